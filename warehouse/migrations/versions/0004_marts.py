"""Analysts' star schema (dimensions, facts, bridge, refresh state) and the PSIRF oversight views (issue 5).

Revision ID: 0004_marts
Revises: 0003_data_quality

Tables are written out by hand to match ``warehouse/mart_models.py`` (checked by ``tests/test_migrations.py``),
with explicit constraint and index names. This revision also created the oversight views; their definitions now
live in the dbt project (``warehouse/dbt``) and ``0006_dbt_warehouse`` drops any left from this revision, so they
are no longer created here. PostgreSQL roles and row-level security
are not created here: they depend on the provider registry and a role prefix, so ``psirf access`` applies them
(``warehouse.access``), and can be rerun after every migration.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_marts"
down_revision: str | Sequence[str] | None = "0003_data_quality"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.String(32)  # hashed natural key: 32 hex characters

TABLES = (
    "dim_organisation",
    "dim_date",
    "dim_physical_harm",
    "dim_psychological_harm",
    "dim_event_type",
    "dim_incident_category",
    "dim_service_area",
    "dim_location_type",
    "dim_learning_response_type",
    "dim_status",
    "dim_ethnicity",
    "dim_gender",
    "dim_age_bracket",
    "fct_incident",
    "fct_incident_patient",
    "fct_safety_action",
    "fct_learning_response",
    "bridge_learning_response_incident",
    "mart_refresh_state",
)


def upgrade() -> None:
    op.create_table(
        "dim_organisation",
        sa.Column("organisation_key", KEY, nullable=False, comment="natural_key(ods_code, valid_from)"),
        sa.Column("ods_code", sa.String(10), nullable=False, comment="ODS code ('unknown' for the unknown member)"),
        sa.Column("name", sa.String(200), nullable=False, comment="Name during this version"),
        sa.Column("org_type", sa.String(20), nullable=False, comment="trust | gp_practice | icb | unknown"),
        sa.Column("icb_code", sa.String(10), nullable=True, comment="ICB the organisation belonged to"),
        sa.Column("region_code", sa.String(10), nullable=True, comment="NHS England region code"),
        sa.Column("valid_from", sa.Date(), nullable=False, comment="First day this version applies"),
        sa.Column("valid_to", sa.Date(), nullable=True, comment="First day it no longer applies; NULL if current"),
        sa.Column("is_current", sa.Boolean(), nullable=False, comment="True for the organisation's current version"),
        sa.Column("attributes_hash", KEY, nullable=False, comment="Hash of name, type, ICB and region (change test)"),
        sa.PrimaryKeyConstraint("organisation_key", name=op.f("pk_dim_organisation")),
    )
    op.create_index(op.f("ix_dim_organisation_ods_code"), "dim_organisation", ["ods_code"], unique=False)

    op.create_table(
        "dim_date",
        sa.Column(
            "date_key", sa.Integer(), nullable=False, autoincrement=False, comment="yyyymmdd; 0 is the unknown date"
        ),
        sa.Column("calendar_date", sa.Date(), nullable=True, comment="The day; NULL for the unknown member"),
        sa.Column("year_number", sa.Integer(), nullable=True, comment="Calendar year"),
        sa.Column("month_number", sa.Integer(), nullable=True, comment="Calendar month 1-12"),
        sa.Column("month_start", sa.Date(), nullable=True, comment="First day of the month (group by month)"),
        sa.Column("month_label", sa.String(7), nullable=False, comment="YYYY-MM, or 'unknown'"),
        sa.Column(
            "financial_year", sa.String(7), nullable=False, comment="NHS financial year April-March, e.g. 2025/26"
        ),
        sa.Column("iso_day_of_week", sa.Integer(), nullable=True, comment="1 Monday … 7 Sunday"),
        sa.PrimaryKeyConstraint("date_key", name=op.f("pk_dim_date")),
    )

    op.create_table(
        "dim_physical_harm",
        sa.Column("physical_harm_key", KEY, nullable=False, comment="natural_key('physical_harm', code)"),
        sa.Column("code", sa.String(10), nullable=False, comment="LFPSE code ('unknown' for the unknown member)"),
        sa.Column("label", sa.String(60), nullable=False, comment="LFPSE display text"),
        sa.Column("severity_rank", sa.Integer(), nullable=True, comment="0 none, 1 low, 2 moderate, 3 severe, 4 fatal"),
        sa.Column("is_moderate_or_worse", sa.Boolean(), nullable=False, comment="Moderate, severe or fatal"),
        sa.PrimaryKeyConstraint("physical_harm_key", name=op.f("pk_dim_physical_harm")),
    )

    op.create_table(
        "dim_psychological_harm",
        sa.Column("psychological_harm_key", KEY, nullable=False, comment="natural_key('psychological_harm', code)"),
        sa.Column("code", sa.String(10), nullable=False, comment="LFPSE code ('unknown' for the unknown member)"),
        sa.Column("label", sa.String(60), nullable=False, comment="LFPSE display text"),
        sa.Column("severity_rank", sa.Integer(), nullable=True, comment="0 none, 1 low, 2 moderate, 3 severe"),
        sa.Column("is_moderate_or_worse", sa.Boolean(), nullable=False, comment="Moderate or severe"),
        sa.PrimaryKeyConstraint("psychological_harm_key", name=op.f("pk_dim_psychological_harm")),
    )

    op.create_table(
        "dim_event_type",
        sa.Column("event_type_key", KEY, nullable=False, comment="natural_key('event_type', code)"),
        sa.Column("code", sa.String(20), nullable=False, comment="incident | outcome | risk | good_care | unknown"),
        sa.Column("label", sa.String(60), nullable=False, comment="Display text"),
        sa.PrimaryKeyConstraint("event_type_key", name=op.f("pk_dim_event_type")),
    )

    op.create_table(
        "dim_incident_category",
        sa.Column("category_key", KEY, nullable=False, comment="natural_key('incident_category', code)"),
        sa.Column("code", sa.String(60), nullable=False, comment="NRLS category key ('unknown' when not mapped)"),
        sa.Column("label", sa.String(200), nullable=False, comment="NRLS category description"),
        sa.PrimaryKeyConstraint("category_key", name=op.f("pk_dim_incident_category")),
    )

    op.create_table(
        "dim_service_area",
        sa.Column(
            "service_area_key",
            KEY,
            nullable=False,
            comment="natural_key('service_area', lower(division), lower(specialty))",
        ),
        sa.Column("division", sa.String(200), nullable=True, comment="Division or directorate, as labelled"),
        sa.Column("specialty", sa.String(200), nullable=True, comment="Specialty, as labelled"),
        sa.PrimaryKeyConstraint("service_area_key", name=op.f("pk_dim_service_area")),
    )

    op.create_table(
        "dim_location_type",
        sa.Column(
            "location_type_key", KEY, nullable=False, comment="natural_key('location_type', lower(location_type))"
        ),
        sa.Column("location_type", sa.String(200), nullable=False, comment="Location type, as first labelled"),
        sa.PrimaryKeyConstraint("location_type_key", name=op.f("pk_dim_location_type")),
    )

    op.create_table(
        "dim_learning_response_type",
        sa.Column("response_type_key", KEY, nullable=False, comment="natural_key('learning_response_type', code)"),
        sa.Column("code", sa.String(20), nullable=False, comment="psii | aar | swarm | mdt | thematic | local | none"),
        sa.Column("label", sa.String(100), nullable=False, comment="Display text"),
        sa.PrimaryKeyConstraint("response_type_key", name=op.f("pk_dim_learning_response_type")),
    )

    op.create_table(
        "dim_status",
        sa.Column("status_key", KEY, nullable=False, comment="natural_key('status', code)"),
        sa.Column("code", sa.String(20), nullable=False, comment="open | completed | cancelled | unknown"),
        sa.Column("label", sa.String(60), nullable=False, comment="Display text"),
        sa.PrimaryKeyConstraint("status_key", name=op.f("pk_dim_status")),
    )

    op.create_table(
        "dim_ethnicity",
        sa.Column("ethnicity_key", KEY, nullable=False, comment="natural_key('ethnicity', code)"),
        sa.Column(
            "code", sa.String(10), nullable=False, comment="NHS DD ethnic category code ('unknown' when missing)"
        ),
        sa.Column("label", sa.String(100), nullable=False, comment="NHS DD description"),
        sa.Column(
            "ethnic_group", sa.String(40), nullable=False, comment="Broad group: White, Mixed, Asian, Black, Other …"
        ),
        sa.PrimaryKeyConstraint("ethnicity_key", name=op.f("pk_dim_ethnicity")),
    )

    op.create_table(
        "dim_gender",
        sa.Column("gender_key", KEY, nullable=False, comment="natural_key('gender', code)"),
        sa.Column(
            "code", sa.String(10), nullable=False, comment="NHS DD person stated gender ('unknown' when missing)"
        ),
        sa.Column("label", sa.String(100), nullable=False, comment="NHS DD description"),
        sa.PrimaryKeyConstraint("gender_key", name=op.f("pk_dim_gender")),
    )

    op.create_table(
        "dim_age_bracket",
        sa.Column("age_bracket_key", KEY, nullable=False, comment="natural_key('age_bracket', code)"),
        sa.Column(
            "code", sa.String(10), nullable=False, comment="LFPSE age bracket code 1-12 ('unknown' when missing)"
        ),
        sa.Column("label", sa.String(40), nullable=False, comment="LFPSE display text, e.g. '26-45 years'"),
        sa.Column("age_band", sa.String(20), nullable=False, comment="Broad band for small numbers: 0-17, 18-25 … 85+"),
        sa.Column("sort_order", sa.Integer(), nullable=False, comment="Youngest first; unknown last"),
        sa.PrimaryKeyConstraint("age_bracket_key", name=op.f("pk_dim_age_bracket")),
    )

    op.create_table(
        "fct_incident",
        sa.Column("incident_key", KEY, nullable=False, comment="The canonical incident_key"),
        sa.Column(
            "provider_ods",
            sa.String(10),
            nullable=False,
            comment="ODS code of the provider that sent the record (row security)",
        ),
        sa.Column(
            "organisation_key",
            KEY,
            nullable=False,
            comment="Key into dim_organisation (version valid on the occurred date); 'unknown' member if not recorded",
        ),
        sa.Column(
            "occurred_date_key",
            sa.Integer(),
            nullable=False,
            comment="Key into dim_date of the occurred date (yyyymmdd; 0 when not recorded)",
        ),
        sa.Column(
            "reported_date_key",
            sa.Integer(),
            nullable=False,
            comment="Key into dim_date of the reported date (yyyymmdd; 0 when not recorded)",
        ),
        sa.Column("occurred_date", sa.Date(), nullable=False, comment="When it happened: report by this date"),
        sa.Column("reported_date", sa.Date(), nullable=True, comment="When it was reported"),
        sa.Column(
            "event_type_key", KEY, nullable=False, comment="Key into dim_event_type; 'unknown' member if not recorded"
        ),
        sa.Column(
            "category_key",
            KEY,
            nullable=False,
            comment="Key into dim_incident_category; 'unknown' member if not recorded",
        ),
        sa.Column(
            "physical_harm_key",
            KEY,
            nullable=False,
            comment="Key into dim_physical_harm (worst across patients); 'unknown' member if not recorded",
        ),
        sa.Column(
            "psychological_harm_key",
            KEY,
            nullable=False,
            comment="Key into dim_psychological_harm; 'unknown' member if not recorded",
        ),
        sa.Column(
            "service_area_key",
            KEY,
            nullable=False,
            comment="Key into dim_service_area; 'unknown' member if not recorded",
        ),
        sa.Column(
            "location_type_key",
            KEY,
            nullable=False,
            comment="Key into dim_location_type; 'unknown' member if not recorded",
        ),
        sa.Column("duty_of_candour", sa.Boolean(), nullable=True, comment="Duty of Candour applies (NULL: unrecorded)"),
        sa.Column("never_event", sa.Boolean(), nullable=True, comment="Recorded as a Never Event"),
        sa.Column("never_event_type_code", sa.String(4), nullable=True, comment="LFPSE never-event-type code"),
        sa.Column(
            "data_sharing_opt_out",
            sa.Boolean(),
            nullable=False,
            comment="LFPSE DataSharingOptOut: leave out of every output shared beyond the ICB",
        ),
        sa.Column(
            "harm_mapping_basis", sa.String(20), nullable=False, comment="provider_profile | legacy_nrls | lfpse"
        ),
        sa.Column("days_to_report", sa.Integer(), nullable=True, comment="reported_date - occurred_date, in days"),
        sa.Column(
            "refreshed_at", sa.DateTime(), nullable=False, comment="When the marts refresh last wrote this row (UTC)"
        ),
        sa.PrimaryKeyConstraint("incident_key", name=op.f("pk_fct_incident")),
    )
    op.create_index(op.f("ix_fct_incident_provider_ods"), "fct_incident", ["provider_ods"], unique=False)

    op.create_table(
        "fct_incident_patient",
        sa.Column("incident_patient_key", KEY, nullable=False, comment="The canonical incident_patient_key"),
        sa.Column("incident_key", KEY, nullable=False, comment="The incident (fct_incident)"),
        sa.Column(
            "provider_ods",
            sa.String(10),
            nullable=False,
            comment="ODS code of the provider that sent the record (row security)",
        ),
        sa.Column(
            "organisation_key",
            KEY,
            nullable=False,
            comment="Key into dim_organisation (version valid on the occurred date); 'unknown' member if not recorded",
        ),
        sa.Column(
            "occurred_date_key",
            sa.Integer(),
            nullable=False,
            comment="Key into dim_date of the incident's occurred date (yyyymmdd; 0 when not recorded)",
        ),
        sa.Column(
            "physical_harm_key",
            KEY,
            nullable=False,
            comment="Key into dim_physical_harm; 'unknown' member if not recorded",
        ),
        sa.Column(
            "psychological_harm_key",
            KEY,
            nullable=False,
            comment="Key into dim_psychological_harm; 'unknown' member if not recorded",
        ),
        sa.Column(
            "ethnicity_key", KEY, nullable=False, comment="Key into dim_ethnicity; 'unknown' member if not recorded"
        ),
        sa.Column("gender_key", KEY, nullable=False, comment="Key into dim_gender; 'unknown' member if not recorded"),
        sa.Column(
            "age_bracket_key",
            KEY,
            nullable=False,
            comment="Key into dim_age_bracket; 'unknown' member if not recorded",
        ),
        sa.Column("age_at_incident_years", sa.Integer(), nullable=True, comment="Age in whole years at the incident"),
        sa.Column("imd_decile", sa.Integer(), nullable=True, comment="IMD decile, 1 most deprived (not fed yet)"),
        sa.Column("imd_version", sa.String(10), nullable=True, comment="IMD edition of imd_decile, e.g. IMD2019"),
        sa.Column(
            "refreshed_at", sa.DateTime(), nullable=False, comment="When the marts refresh last wrote this row (UTC)"
        ),
        sa.PrimaryKeyConstraint("incident_patient_key", name=op.f("pk_fct_incident_patient")),
    )
    op.create_index(
        op.f("ix_fct_incident_patient_provider_ods"), "fct_incident_patient", ["provider_ods"], unique=False
    )
    op.create_index(
        op.f("ix_fct_incident_patient_incident_key"), "fct_incident_patient", ["incident_key"], unique=False
    )

    op.create_table(
        "fct_safety_action",
        sa.Column("safety_action_key", KEY, nullable=False, comment="The canonical safety_action_key"),
        sa.Column(
            "provider_ods",
            sa.String(10),
            nullable=False,
            comment="ODS code of the provider that sent the record (row security)",
        ),
        sa.Column(
            "organisation_key",
            KEY,
            nullable=False,
            comment="Key into dim_organisation (version valid when agreed); 'unknown' member if not recorded",
        ),
        sa.Column("owning_org_ods", sa.String(10), nullable=True, comment="ODS code of the organisation that owns it"),
        sa.Column("incident_key", KEY, nullable=True, comment="Incident it arose from, if any"),
        sa.Column("learning_response_key", KEY, nullable=True, comment="Learning response it came from, if any"),
        sa.Column("status_key", KEY, nullable=False, comment="Key into dim_status; 'unknown' member if not recorded"),
        sa.Column("agreed_date", sa.Date(), nullable=True, comment="When it was agreed"),
        sa.Column("due_date", sa.Date(), nullable=True, comment="Original due date"),
        sa.Column("revised_due_date", sa.Date(), nullable=True, comment="Revised due date, if moved"),
        sa.Column("effective_due_date", sa.Date(), nullable=True, comment="Revised due date, else due date"),
        sa.Column("completed_date", sa.Date(), nullable=True, comment="When it was completed"),
        sa.Column(
            "due_date_key",
            sa.Integer(),
            nullable=False,
            comment="Key into dim_date of the effective due date (yyyymmdd; 0 when not recorded)",
        ),
        sa.Column(
            "completed_date_key",
            sa.Integer(),
            nullable=False,
            comment="Key into dim_date of the completed date (yyyymmdd; 0 when not recorded)",
        ),
        sa.Column("is_system_wide", sa.Boolean(), nullable=True, comment="An action for the whole system"),
        sa.Column("completed_on_time", sa.Boolean(), nullable=True, comment="Completed by the effective due date"),
        sa.Column(
            "refreshed_at", sa.DateTime(), nullable=False, comment="When the marts refresh last wrote this row (UTC)"
        ),
        sa.PrimaryKeyConstraint("safety_action_key", name=op.f("pk_fct_safety_action")),
    )
    op.create_index(op.f("ix_fct_safety_action_provider_ods"), "fct_safety_action", ["provider_ods"], unique=False)

    op.create_table(
        "fct_learning_response",
        sa.Column("learning_response_key", KEY, nullable=False, comment="The canonical learning_response_key"),
        sa.Column(
            "provider_ods",
            sa.String(10),
            nullable=False,
            comment="ODS code of the provider that sent the record (row security)",
        ),
        sa.Column(
            "organisation_key",
            KEY,
            nullable=False,
            comment="Key into dim_organisation (version valid when commissioned); 'unknown' member if not recorded",
        ),
        sa.Column(
            "response_type_key",
            KEY,
            nullable=False,
            comment="Key into dim_learning_response_type; 'unknown' member if not recorded",
        ),
        sa.Column("status_key", KEY, nullable=False, comment="Key into dim_status; 'unknown' member if not recorded"),
        sa.Column("commissioned_date", sa.Date(), nullable=True, comment="When the response was commissioned"),
        sa.Column("due_date", sa.Date(), nullable=True, comment="When it is due to finish"),
        sa.Column("completed_date", sa.Date(), nullable=True, comment="When it finished"),
        sa.Column(
            "commissioned_date_key",
            sa.Integer(),
            nullable=False,
            comment="Key into dim_date of the commissioned date (yyyymmdd; 0 when not recorded)",
        ),
        sa.Column(
            "completed_date_key",
            sa.Integer(),
            nullable=False,
            comment="Key into dim_date of the completed date (yyyymmdd; 0 when not recorded)",
        ),
        sa.Column("days_to_completion", sa.Integer(), nullable=True, comment="completed_date - commissioned_date"),
        sa.Column("patient_family_involved", sa.Boolean(), nullable=True, comment="Patients or families were involved"),
        sa.Column("staff_involved", sa.Boolean(), nullable=True, comment="Staff were involved"),
        sa.Column(
            "refreshed_at", sa.DateTime(), nullable=False, comment="When the marts refresh last wrote this row (UTC)"
        ),
        sa.PrimaryKeyConstraint("learning_response_key", name=op.f("pk_fct_learning_response")),
    )
    op.create_index(
        op.f("ix_fct_learning_response_provider_ods"), "fct_learning_response", ["provider_ods"], unique=False
    )

    op.create_table(
        "bridge_learning_response_incident",
        sa.Column("learning_response_key", KEY, nullable=False, comment="The learning response"),
        sa.Column("incident_key", KEY, nullable=False, comment="An incident it covers"),
        sa.Column(
            "provider_ods",
            sa.String(10),
            nullable=False,
            comment="ODS code of the provider that sent the record (row security)",
        ),
        sa.PrimaryKeyConstraint(
            "learning_response_key", "incident_key", name=op.f("pk_bridge_learning_response_incident")
        ),
    )
    op.create_index(
        op.f("ix_bridge_learning_response_incident_provider_ods"),
        "bridge_learning_response_incident",
        ["provider_ods"],
        unique=False,
    )

    op.create_table(
        "mart_refresh_state",
        sa.Column("source_table", sa.String(60), nullable=False, comment="Canonical table name"),
        sa.Column("watermark", sa.DateTime(), nullable=True, comment="Rows updated up to here are applied (UTC)"),
        sa.Column("refreshed_at", sa.DateTime(), nullable=False, comment="When the last refresh ran (UTC)"),
        sa.Column("rows_read", sa.Integer(), nullable=False, comment="Canonical rows the last refresh read"),
        sa.PrimaryKeyConstraint("source_table", name=op.f("pk_mart_refresh_state")),
    )


OLD_VIEWS = (
    "vw_incidents_by_provider_month_harm", "vw_moderate_harm_duty_of_candour", "vw_never_events",
    "vw_learning_responses", "vw_learning_response_summary", "vw_safety_actions_by_provider",
    "vw_system_wide_actions", "vw_harm_inequalities", "vw_reporting_timeliness",
)
"""The views this revision used to create (dropped if a warehouse still has them)."""


def downgrade() -> None:
    for view in OLD_VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    for table in reversed(TABLES):
        op.drop_table(table)
