"""Initial warehouse schema: the canonical tables, the organisation reference, the batch ledger and quarantine.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-06

Written by hand to match ``warehouse/models.py`` (checked by ``tests/test_migrations.py``). Every constraint and
index is named explicitly, following the model's naming convention, so later migrations can refer to them by
name on both DuckDB and PostgreSQL. There are no foreign keys: keys are hashed natural keys, and a provider's
actions may arrive before the incidents they refer to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.String(32)  # hashed natural key: 32 hex characters


def _provenance() -> list[sa.Column[Any]]:
    """The ``Provenance`` mixin's columns, which every canonical table ends with."""
    return [
        sa.Column(
            "provider_ods", sa.String(10), nullable=False, comment="ODS code of the provider that sent the record"
        ),
        sa.Column("source_system", sa.String(60), nullable=False, comment="Source system, e.g. 'datix_listing_csv'"),
        sa.Column("source_record_id", sa.String(64), nullable=False, comment="The record's id in the source system"),
        sa.Column("batch_id", sa.String(36), nullable=False, comment="Batch that last inserted or changed the row"),
        sa.Column("extracted_at", sa.DateTime(), nullable=False, comment="When the source data was extracted (UTC)"),
        sa.Column(
            "row_hash", sa.String(64), nullable=False, comment="SHA-256 of the canonical content, for change detection"
        ),
        sa.Column("loaded_at", sa.DateTime(), nullable=False, comment="When the row was first loaded (UTC)"),
        sa.Column("updated_at", sa.DateTime(), nullable=False, comment="When the row last changed (UTC)"),
    ]


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("ods_code", sa.String(10), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("org_type", sa.String(20), nullable=False, comment="trust | gp_practice | icb"),
        sa.Column("icb_code", sa.String(10), nullable=True),
        sa.Column("region_code", sa.String(10), nullable=True),
        sa.PrimaryKeyConstraint("ods_code", name=op.f("pk_organisation")),
    )

    op.create_table(
        "incident",
        sa.Column("incident_key", KEY, nullable=False),
        sa.Column("local_reference", sa.String(64), nullable=True, comment="Provider's own reference (inc_ourref)"),
        sa.Column("event_type_code", sa.String(20), nullable=False, comment="incident | outcome | risk | good_care"),
        sa.Column("occurred_date", sa.Date(), nullable=False, comment="When it happened: report by this date"),
        sa.Column("occurred_time", sa.String(5), nullable=True, comment="HH:MM, when recorded"),
        sa.Column("reported_date", sa.Date(), nullable=True, comment="When it was reported (timeliness)"),
        sa.Column("category_code", sa.String(60), nullable=True, comment="NRLS level-1 category key"),
        sa.Column("category_source", sa.String(200), nullable=True, comment="Category as sent, verbatim"),
        sa.Column("subcategory_source", sa.String(200), nullable=True),
        sa.Column("physical_harm_code", sa.String(2), nullable=False, comment="LFPSE level-of-physical-harm code"),
        sa.Column("physical_harm_source", sa.String(200), nullable=True, comment="Harm label as sent, verbatim"),
        sa.Column("psychological_harm_code", sa.String(2), nullable=True, comment="LFPSE psychological harm"),
        sa.Column("psychological_harm_source", sa.String(200), nullable=True),
        sa.Column(
            "harm_mapping_basis",
            sa.String(20),
            nullable=False,
            comment="provider_profile | legacy_nrls | lfpse: how the harm code was obtained",
        ),
        sa.Column("result_source", sa.String(200), nullable=True, comment="Datix 'Result', verbatim"),
        sa.Column("division_source", sa.String(200), nullable=True),
        sa.Column("specialty_source", sa.String(200), nullable=True),
        sa.Column("location_type_source", sa.String(200), nullable=True),
        sa.Column("location_exact_source", sa.String(200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True, comment="What happened (free text, identifiers redacted)"),
        sa.Column("action_taken", sa.Text(), nullable=True, comment="Immediate action (free text, redacted)"),
        sa.Column("lessons_learned", sa.Text(), nullable=True, comment="Lessons learned (free text, redacted)"),
        sa.Column("duty_of_candour", sa.Boolean(), nullable=True, comment="Duty of Candour applies"),
        sa.Column("duty_of_candour_source", sa.String(100), nullable=True),
        sa.Column("never_event", sa.Boolean(), nullable=True),
        sa.Column("approval_status_source", sa.String(60), nullable=True, comment="Source approval status"),
        sa.Column("source_updated_at", sa.DateTime(), nullable=True, comment="Last update in the source"),
        sa.Column("is_deleted", sa.Boolean(), nullable=False, comment="Deleted upstream"),
        *_provenance(),
        sa.PrimaryKeyConstraint("incident_key", name=op.f("pk_incident")),
        sa.UniqueConstraint("provider_ods", "source_record_id", name=op.f("uq_incident_provider_record")),
    )

    op.create_table(
        "incident_patient",
        sa.Column("incident_patient_key", KEY, nullable=False),
        sa.Column("incident_key", KEY, nullable=False),
        sa.Column(
            "patient_sequence", sa.Integer(), nullable=False, comment="1-based order of the patient in the incident"
        ),
        sa.Column(
            "patient_pseudo_id",
            sa.String(64),
            nullable=True,
            comment="Keyed HMAC-SHA-256 of the NHS number; NULL only when no NHS number was recorded",
        ),
        sa.Column("age_at_incident_years", sa.Integer(), nullable=True, comment="Derived from date of birth"),
        sa.Column("age_bracket_code", sa.String(4), nullable=True, comment="LFPSE age-brackets-5 code"),
        sa.Column("gender_code", sa.String(2), nullable=True, comment="NHS Data Dictionary person stated gender"),
        sa.Column("gender_source", sa.String(100), nullable=True),
        sa.Column("ethnicity_code", sa.String(2), nullable=True, comment="NHS Data Dictionary ethnic category"),
        sa.Column("ethnicity_source", sa.String(100), nullable=True),
        sa.Column("physical_harm_code", sa.String(2), nullable=False, comment="LFPSE level-of-physical-harm code"),
        sa.Column("physical_harm_source", sa.String(200), nullable=True),
        sa.Column("psychological_harm_code", sa.String(2), nullable=True),
        sa.Column("psychological_harm_source", sa.String(200), nullable=True),
        *_provenance(),
        sa.PrimaryKeyConstraint("incident_patient_key", name=op.f("pk_incident_patient")),
        sa.UniqueConstraint(
            "provider_ods", "source_record_id", "patient_sequence", name=op.f("uq_incident_patient_record")
        ),
    )
    op.create_index(op.f("ix_incident_patient_incident_key"), "incident_patient", ["incident_key"])

    op.create_table(
        "safety_action",
        sa.Column("safety_action_key", KEY, nullable=False),
        sa.Column("incident_key", KEY, nullable=True, comment="Incident the action arose from"),
        sa.Column("incident_source_record_id", sa.String(64), nullable=True),
        sa.Column("learning_response_key", KEY, nullable=True),
        sa.Column("description", sa.Text(), nullable=False, comment="What will be done (free text, redacted)"),
        sa.Column("owner_role", sa.String(200), nullable=True, comment="A role, never a person's name"),
        sa.Column("owning_org_ods", sa.String(10), nullable=True),
        sa.Column("agreed_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("revised_due_date", sa.Date(), nullable=True),
        sa.Column("completed_date", sa.Date(), nullable=True),
        sa.Column("status_code", sa.String(20), nullable=False, comment="open | completed | cancelled"),
        sa.Column("status_source", sa.String(200), nullable=True),
        sa.Column("effectiveness_measure", sa.Text(), nullable=True),
        sa.Column("is_system_wide", sa.Boolean(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        *_provenance(),
        sa.PrimaryKeyConstraint("safety_action_key", name=op.f("pk_safety_action")),
        sa.UniqueConstraint("provider_ods", "source_record_id", name=op.f("uq_safety_action_provider_record")),
    )
    op.create_index(op.f("ix_safety_action_incident_key"), "safety_action", ["incident_key"])

    op.create_table(
        "learning_response",
        sa.Column("learning_response_key", KEY, nullable=False),
        sa.Column(
            "response_type_code",
            sa.String(20),
            nullable=False,
            comment="psii | aar | swarm | mdt | thematic | local | none",
        ),
        sa.Column("response_type_source", sa.String(200), nullable=True),
        sa.Column("commissioned_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("completed_date", sa.Date(), nullable=True),
        sa.Column("status_code", sa.String(20), nullable=False, comment="open | completed | cancelled"),
        sa.Column("status_source", sa.String(200), nullable=True),
        sa.Column("patient_family_involved", sa.Boolean(), nullable=True),
        sa.Column("staff_involved", sa.Boolean(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        *_provenance(),
        sa.PrimaryKeyConstraint("learning_response_key", name=op.f("pk_learning_response")),
        sa.UniqueConstraint("provider_ods", "source_record_id", name=op.f("uq_learning_response_provider_record")),
    )

    op.create_table(
        "learning_response_incident",
        sa.Column("learning_response_key", KEY, nullable=False),
        sa.Column("incident_key", KEY, nullable=False),
        sa.Column("provider_ods", sa.String(10), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("learning_response_key", "incident_key", name=op.f("pk_learning_response_incident")),
    )

    op.create_table(
        "batch_ledger",
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=True, comment="Airflow run id or CLI run id"),
        sa.Column("provider_ods", sa.String(10), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False, comment="incidents | safety_actions | learning_responses"),
        sa.Column("source_system", sa.String(60), nullable=False),
        sa.Column("profile", sa.String(100), nullable=False, comment="Mapping profile used"),
        sa.Column("source_file", sa.String(500), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False, comment="SHA-256 of the file's bytes"),
        sa.Column("encoding", sa.String(20), nullable=True, comment="utf-8 | utf-8-sig | cp1252"),
        sa.Column("rows_in", sa.Integer(), nullable=False),
        sa.Column("loaded", sa.Integer(), nullable=False, comment="Valid rows merged: inserted + updated + unchanged"),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False, comment="Source rows held back (see quarantine)"),
        sa.Column("duplicates", sa.Integer(), nullable=False, comment="Exact repeats of an earlier row in the batch"),
        sa.Column("status", sa.String(20), nullable=False, comment="loaded | rejected"),
        sa.Column("message", sa.Text(), nullable=True, comment="Why a batch was rejected"),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batch_ledger")),
        # The conservation law: every source row is accounted for exactly once.
        sa.CheckConstraint("rows_in = loaded + quarantined + duplicates", name=op.f("ck_batch_ledger_conservation")),
        sa.CheckConstraint("loaded = inserted + updated + unchanged", name=op.f("ck_batch_ledger_loaded_split")),
    )
    op.create_index(op.f("ix_batch_ledger_provider_ods"), "batch_ledger", ["provider_ods"])
    op.create_index(op.f("ix_batch_ledger_checksum"), "batch_ledger", ["checksum"])

    op.create_table(
        "quarantine",
        sa.Column("quarantine_key", KEY, nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("provider_ods", sa.String(10), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("source_file", sa.String(500), nullable=False),
        sa.Column("source_row_number", sa.Integer(), nullable=False, comment="1-based data row number in the file"),
        sa.Column("source_record_id", sa.String(64), nullable=True),
        sa.Column("rule_id", sa.String(80), nullable=False),
        sa.Column("field", sa.String(100), nullable=True, comment="Source column name"),
        sa.Column("found", sa.Text(), nullable=True, comment="What was found (identifiers described, never copied)"),
        sa.Column("expected", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("quarantine_key", name=op.f("pk_quarantine")),
    )
    op.create_index(op.f("ix_quarantine_batch_id"), "quarantine", ["batch_id"])
    op.create_index(op.f("ix_quarantine_provider_ods"), "quarantine", ["provider_ods"])


def downgrade() -> None:
    # Indexes go with their tables on both engines; dropping them first keeps the order explicit.
    op.drop_index(op.f("ix_quarantine_provider_ods"), table_name="quarantine")
    op.drop_index(op.f("ix_quarantine_batch_id"), table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_index(op.f("ix_batch_ledger_checksum"), table_name="batch_ledger")
    op.drop_index(op.f("ix_batch_ledger_provider_ods"), table_name="batch_ledger")
    op.drop_table("batch_ledger")
    op.drop_table("learning_response_incident")
    op.drop_table("learning_response")
    op.drop_index(op.f("ix_safety_action_incident_key"), table_name="safety_action")
    op.drop_table("safety_action")
    op.drop_index(op.f("ix_incident_patient_incident_key"), table_name="incident_patient")
    op.drop_table("incident_patient")
    op.drop_table("incident")
    op.drop_table("organisation")
