"""The analysts' star schema (issue 5): dimensions, facts and a bridge, on the canonical ``Base.metadata``.

Analysts query these tables (and the oversight views in :mod:`warehouse.views`) instead of the canonical tables:
they hold codes, dates, flags and keys, never free text, and every fact row carries ``provider_ods`` so that
PostgreSQL row-level security can give each provider only its own rows (:mod:`warehouse.access`).

Keys:
- every dimension key is a hashed natural key (:func:`transforms.keys.natural_key` over the dimension's name
  and its natural key), computed in Python for fixed code lists and by the same SHA-256 in SQL for labels found
  in the data, so DuckDB and PostgreSQL give the same keys; ``dim_date`` uses ``yyyymmdd`` integers;
- every dimension has an *unknown* member (key ``natural_key('unknown')``, date key ``0``): a fact whose code is
  missing or not in the code list points there, so no fact row is lost by an inner join;
- fact keys are the canonical keys (``incident_key`` …), so a fact row traces back to its canonical record.

The marts are refreshed incrementally by :func:`warehouse.marts.refresh` (see there for how).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.models import KEY, Base

_KEY_DOC = "Hashed natural key"
_UNKNOWN_DOC = "; 'unknown' member if not recorded"


def _key(doc: str = _KEY_DOC) -> Mapped[str]:
    return mapped_column(KEY, primary_key=True, comment=doc)


def _fk(dimension: str) -> Mapped[str]:
    return mapped_column(KEY, comment=f"Key into {dimension}{_UNKNOWN_DOC}")


def _date_fk(what: str) -> Mapped[int]:
    return mapped_column(Integer, comment=f"Key into dim_date of the {what} (yyyymmdd; 0 when not recorded)")


def _provider() -> Mapped[str]:
    return mapped_column(String(10), index=True, comment="ODS code of the provider that sent the record (row security)")


def _refreshed() -> Mapped[dt.datetime]:
    return mapped_column(DateTime, comment="When the marts refresh last wrote this row (UTC)")


# --- dimensions --------------------------------------------------------------------------------------------


class DimOrganisation(Base):
    """Grain: one row per version of an organisation (ODS code, valid_from): slowly changing, type 2.

    A change of name, type, ICB or region closes the current version (``valid_to``) and opens a new one from the
    refresh date, so incidents stay with the ICB that was responsible when they occurred. The first version of
    each organisation is valid from 1900-01-01. Facts point to the version valid on their occurred date.
    """

    __tablename__ = "dim_organisation"

    organisation_key: Mapped[str] = _key("natural_key(ods_code, valid_from)")
    ods_code: Mapped[str] = mapped_column(String(10), index=True, comment="ODS code ('unknown' for the unknown member)")
    name: Mapped[str] = mapped_column(String(200), comment="Name during this version")
    org_type: Mapped[str] = mapped_column(String(20), comment="trust | gp_practice | icb | unknown")
    icb_code: Mapped[str | None] = mapped_column(String(10), comment="ICB the organisation belonged to")
    region_code: Mapped[str | None] = mapped_column(String(10), comment="NHS England region code")
    valid_from: Mapped[dt.date] = mapped_column(Date, comment="First day this version applies")
    valid_to: Mapped[dt.date | None] = mapped_column(Date, comment="First day it no longer applies; NULL if current")
    is_current: Mapped[bool] = mapped_column(Boolean, comment="True for the organisation's current version")
    attributes_hash: Mapped[str] = mapped_column(KEY, comment="Hash of name, type, ICB and region (change test)")


class DimDate(Base):
    """Grain: one row per calendar day, continuous over every date the facts use, plus 0 = unknown."""

    __tablename__ = "dim_date"

    date_key: Mapped[int] = mapped_column(
        Integer, primary_key=True, autoincrement=False, comment="yyyymmdd; 0 is the unknown date"
    )
    calendar_date: Mapped[dt.date | None] = mapped_column(Date, comment="The day; NULL for the unknown member")
    year_number: Mapped[int | None] = mapped_column(Integer, comment="Calendar year")
    month_number: Mapped[int | None] = mapped_column(Integer, comment="Calendar month 1-12")
    month_start: Mapped[dt.date | None] = mapped_column(Date, comment="First day of the month (group by month)")
    month_label: Mapped[str] = mapped_column(String(7), comment="YYYY-MM, or 'unknown'")
    financial_year: Mapped[str] = mapped_column(String(7), comment="NHS financial year April-March, e.g. 2025/26")
    iso_day_of_week: Mapped[int | None] = mapped_column(Integer, comment="1 Monday … 7 Sunday")


class DimPhysicalHarm(Base):
    """Grain: one row per LFPSE level of physical harm (level-of-physical-harm-5), plus unknown.

    LFPSE codes run backwards: 5 no harm, 4 low, 3 moderate, 2 severe, 1 fatal. Use ``severity_rank`` to order.
    """

    __tablename__ = "dim_physical_harm"

    physical_harm_key: Mapped[str] = _key("natural_key('physical_harm', code)")
    code: Mapped[str] = mapped_column(String(10), comment="LFPSE code ('unknown' for the unknown member)")
    label: Mapped[str] = mapped_column(String(60), comment="LFPSE display text")
    severity_rank: Mapped[int | None] = mapped_column(Integer, comment="0 none, 1 low, 2 moderate, 3 severe, 4 fatal")
    is_moderate_or_worse: Mapped[bool] = mapped_column(Boolean, comment="Moderate, severe or fatal")


class DimPsychologicalHarm(Base):
    """Grain: one row per LFPSE level of psychological harm (level-of-psychological-harm-5), plus unknown.

    Codes run backwards: 4 no harm, 3 low, 2 moderate, 1 severe; there is no fatal psychological harm.
    """

    __tablename__ = "dim_psychological_harm"

    psychological_harm_key: Mapped[str] = _key("natural_key('psychological_harm', code)")
    code: Mapped[str] = mapped_column(String(10), comment="LFPSE code ('unknown' for the unknown member)")
    label: Mapped[str] = mapped_column(String(60), comment="LFPSE display text")
    severity_rank: Mapped[int | None] = mapped_column(Integer, comment="0 none, 1 low, 2 moderate, 3 severe")
    is_moderate_or_worse: Mapped[bool] = mapped_column(Boolean, comment="Moderate or severe")


class DimEventType(Base):
    """Grain: one row per LFPSE event type (incident, outcome, risk, good care), plus unknown."""

    __tablename__ = "dim_event_type"

    event_type_key: Mapped[str] = _key("natural_key('event_type', code)")
    code: Mapped[str] = mapped_column(String(20), comment="incident | outcome | risk | good_care | unknown")
    label: Mapped[str] = mapped_column(String(60), comment="Display text")


class DimIncidentCategory(Base):
    """Grain: one row per NRLS level-1 incident category (config/reference/nrls_incident_categories.csv)."""

    __tablename__ = "dim_incident_category"

    category_key: Mapped[str] = _key("natural_key('incident_category', code)")
    code: Mapped[str] = mapped_column(String(60), comment="NRLS category key ('unknown' when not mapped)")
    label: Mapped[str] = mapped_column(String(200), comment="NRLS category description")


class DimServiceArea(Base):
    """Grain: one row per service area as providers label it (division, specialty), plus unknown.

    Built from the labels in the data: matching ignores case and repeated spaces, and the label first seen is
    kept for display. Specialty lists are local (LFPSE's own list is not the NHS main specialty code list).
    """

    __tablename__ = "dim_service_area"

    service_area_key: Mapped[str] = _key("natural_key('service_area', lower(division), lower(specialty))")
    division: Mapped[str | None] = mapped_column(String(200), comment="Division or directorate, as labelled")
    specialty: Mapped[str | None] = mapped_column(String(200), comment="Specialty, as labelled")


class DimLocationType(Base):
    """Grain: one row per type of location as providers label it (e.g. 'Inpatient ward'), plus unknown."""

    __tablename__ = "dim_location_type"

    location_type_key: Mapped[str] = _key("natural_key('location_type', lower(location_type))")
    location_type: Mapped[str] = mapped_column(String(200), comment="Location type, as first labelled")


class DimLearningResponseType(Base):
    """Grain: one row per PSIRF learning response type (PSII, AAR, SWARM, MDT, thematic, local, none), plus unknown."""

    __tablename__ = "dim_learning_response_type"

    response_type_key: Mapped[str] = _key("natural_key('learning_response_type', code)")
    code: Mapped[str] = mapped_column(String(20), comment="psii | aar | swarm | mdt | thematic | local | none")
    label: Mapped[str] = mapped_column(String(100), comment="Display text")


class DimStatus(Base):
    """Grain: one row per workflow status of safety actions and learning responses, plus unknown."""

    __tablename__ = "dim_status"

    status_key: Mapped[str] = _key("natural_key('status', code)")
    code: Mapped[str] = mapped_column(String(20), comment="open | completed | cancelled | unknown")
    label: Mapped[str] = mapped_column(String(60), comment="Display text")


class DimEthnicity(Base):
    """Grain: one row per NHS Data Dictionary ethnic category (config/reference/nhs_dd_ethnic_category.csv)."""

    __tablename__ = "dim_ethnicity"

    ethnicity_key: Mapped[str] = _key("natural_key('ethnicity', code)")
    code: Mapped[str] = mapped_column(String(10), comment="NHS DD ethnic category code ('unknown' when missing)")
    label: Mapped[str] = mapped_column(String(100), comment="NHS DD description")
    ethnic_group: Mapped[str] = mapped_column(String(40), comment="Broad group: White, Mixed, Asian, Black, Other …")


class DimGender(Base):
    """Grain: one row per NHS Data Dictionary person stated gender code (1 Male, 2 Female, 9, X), plus unknown."""

    __tablename__ = "dim_gender"

    gender_key: Mapped[str] = _key("natural_key('gender', code)")
    code: Mapped[str] = mapped_column(String(10), comment="NHS DD person stated gender ('unknown' when missing)")
    label: Mapped[str] = mapped_column(String(100), comment="NHS DD description")


class DimAgeBracket(Base):
    """Grain: one row per LFPSE age bracket (age-brackets-5, 12 bands), plus unknown."""

    __tablename__ = "dim_age_bracket"

    age_bracket_key: Mapped[str] = _key("natural_key('age_bracket', code)")
    code: Mapped[str] = mapped_column(String(10), comment="LFPSE age bracket code 1-12 ('unknown' when missing)")
    label: Mapped[str] = mapped_column(String(40), comment="LFPSE display text, e.g. '26-45 years'")
    age_band: Mapped[str] = mapped_column(String(20), comment="Broad band for small numbers: 0-17, 18-25 … 85+")
    sort_order: Mapped[int] = mapped_column(Integer, comment="Youngest first; unknown last")


# --- facts -------------------------------------------------------------------------------------------------


class FctIncident(Base):
    """Grain: one row per live incident record (canonical ``incident`` not deleted upstream).

    Harm is the incident's worst across its patients. No free text: descriptions stay in the canonical table.
    """

    __tablename__ = "fct_incident"

    incident_key: Mapped[str] = _key("The canonical incident_key")
    provider_ods: Mapped[str] = _provider()
    organisation_key: Mapped[str] = _fk("dim_organisation (version valid on the occurred date)")
    occurred_date_key: Mapped[int] = _date_fk("occurred date")
    reported_date_key: Mapped[int] = _date_fk("reported date")
    occurred_date: Mapped[dt.date] = mapped_column(Date, comment="When it happened: report by this date")
    reported_date: Mapped[dt.date | None] = mapped_column(Date, comment="When it was reported")
    event_type_key: Mapped[str] = _fk("dim_event_type")
    category_key: Mapped[str] = _fk("dim_incident_category")
    physical_harm_key: Mapped[str] = _fk("dim_physical_harm (worst across patients)")
    psychological_harm_key: Mapped[str] = _fk("dim_psychological_harm")
    service_area_key: Mapped[str] = _fk("dim_service_area")
    location_type_key: Mapped[str] = _fk("dim_location_type")
    duty_of_candour: Mapped[bool | None] = mapped_column(Boolean, comment="Duty of Candour applies (NULL: unrecorded)")
    never_event: Mapped[bool | None] = mapped_column(Boolean, comment="Recorded as a Never Event")
    never_event_type_code: Mapped[str | None] = mapped_column(String(4), comment="LFPSE never-event-type code")
    data_sharing_opt_out: Mapped[bool] = mapped_column(
        Boolean, comment="LFPSE DataSharingOptOut: leave out of every output shared beyond the ICB"
    )
    harm_mapping_basis: Mapped[str] = mapped_column(String(20), comment="provider_profile | legacy_nrls | lfpse")
    days_to_report: Mapped[int | None] = mapped_column(Integer, comment="reported_date - occurred_date, in days")
    refreshed_at: Mapped[dt.datetime] = _refreshed()


class FctIncidentPatient(Base):
    """Grain: one row per patient of a live incident (incident, patient sequence): harm and demographics.

    No patient identifier, not even the pseudonym: inequality analysis needs only the demographics. Deprivation
    (IMD decile) is not supplied by any feed yet: the columns exist and stay NULL until the canonical model
    carries LSOA-derived IMD (never a postcode).
    """

    __tablename__ = "fct_incident_patient"

    incident_patient_key: Mapped[str] = _key("The canonical incident_patient_key")
    incident_key: Mapped[str] = mapped_column(KEY, index=True, comment="The incident (fct_incident)")
    provider_ods: Mapped[str] = _provider()
    organisation_key: Mapped[str] = _fk("dim_organisation (version valid on the occurred date)")
    occurred_date_key: Mapped[int] = _date_fk("incident's occurred date")
    physical_harm_key: Mapped[str] = _fk("dim_physical_harm")
    psychological_harm_key: Mapped[str] = _fk("dim_psychological_harm")
    ethnicity_key: Mapped[str] = _fk("dim_ethnicity")
    gender_key: Mapped[str] = _fk("dim_gender")
    age_bracket_key: Mapped[str] = _fk("dim_age_bracket")
    age_at_incident_years: Mapped[int | None] = mapped_column(Integer, comment="Age in whole years at the incident")
    imd_decile: Mapped[int | None] = mapped_column(Integer, comment="IMD decile, 1 most deprived (not fed yet)")
    imd_version: Mapped[str | None] = mapped_column(String(10), comment="IMD edition of imd_decile, e.g. IMD2019")
    refreshed_at: Mapped[dt.datetime] = _refreshed()


class FctSafetyAction(Base):
    """Grain: one row per live safety action. No free text (description, owner, effectiveness measure)."""

    __tablename__ = "fct_safety_action"

    safety_action_key: Mapped[str] = _key("The canonical safety_action_key")
    provider_ods: Mapped[str] = _provider()
    organisation_key: Mapped[str] = _fk("dim_organisation (version valid when agreed)")
    owning_org_ods: Mapped[str | None] = mapped_column(String(10), comment="ODS code of the organisation that owns it")
    incident_key: Mapped[str | None] = mapped_column(KEY, comment="Incident it arose from, if any")
    learning_response_key: Mapped[str | None] = mapped_column(KEY, comment="Learning response it came from, if any")
    status_key: Mapped[str] = _fk("dim_status")
    agreed_date: Mapped[dt.date | None] = mapped_column(Date, comment="When it was agreed")
    due_date: Mapped[dt.date | None] = mapped_column(Date, comment="Original due date")
    revised_due_date: Mapped[dt.date | None] = mapped_column(Date, comment="Revised due date, if moved")
    effective_due_date: Mapped[dt.date | None] = mapped_column(Date, comment="Revised due date, else due date")
    completed_date: Mapped[dt.date | None] = mapped_column(Date, comment="When it was completed")
    due_date_key: Mapped[int] = _date_fk("effective due date")
    completed_date_key: Mapped[int] = _date_fk("completed date")
    is_system_wide: Mapped[bool | None] = mapped_column(Boolean, comment="An action for the whole system")
    completed_on_time: Mapped[bool | None] = mapped_column(Boolean, comment="Completed by the effective due date")
    refreshed_at: Mapped[dt.datetime] = _refreshed()


class FctLearningResponse(Base):
    """Grain: one row per live PSIRF learning response (PSII, AAR, SWARM …)."""

    __tablename__ = "fct_learning_response"

    learning_response_key: Mapped[str] = _key("The canonical learning_response_key")
    provider_ods: Mapped[str] = _provider()
    organisation_key: Mapped[str] = _fk("dim_organisation (version valid when commissioned)")
    response_type_key: Mapped[str] = _fk("dim_learning_response_type")
    status_key: Mapped[str] = _fk("dim_status")
    commissioned_date: Mapped[dt.date | None] = mapped_column(Date, comment="When the response was commissioned")
    due_date: Mapped[dt.date | None] = mapped_column(Date, comment="When it is due to finish")
    completed_date: Mapped[dt.date | None] = mapped_column(Date, comment="When it finished")
    commissioned_date_key: Mapped[int] = _date_fk("commissioned date")
    completed_date_key: Mapped[int] = _date_fk("completed date")
    days_to_completion: Mapped[int | None] = mapped_column(Integer, comment="completed_date - commissioned_date")
    patient_family_involved: Mapped[bool | None] = mapped_column(Boolean, comment="Patients or families were involved")
    staff_involved: Mapped[bool | None] = mapped_column(Boolean, comment="Staff were involved")
    refreshed_at: Mapped[dt.datetime] = _refreshed()


class BridgeLearningResponseIncident(Base):
    """Grain: one row per (learning response, incident) pair: the incidents a live learning response covers."""

    __tablename__ = "bridge_learning_response_incident"

    learning_response_key: Mapped[str] = mapped_column(KEY, primary_key=True, comment="The learning response")
    incident_key: Mapped[str] = mapped_column(KEY, primary_key=True, comment="An incident it covers")
    provider_ods: Mapped[str] = _provider()


class MartRefreshState(Base):
    """Grain: one row per canonical source table the marts read: how far the incremental refresh has got."""

    __tablename__ = "mart_refresh_state"

    source_table: Mapped[str] = mapped_column(String(60), primary_key=True, comment="Canonical table name")
    watermark: Mapped[dt.datetime | None] = mapped_column(DateTime, comment="Rows updated up to here are applied (UTC)")
    refreshed_at: Mapped[dt.datetime] = mapped_column(DateTime, comment="When the last refresh ran (UTC)")
    rows_read: Mapped[int] = mapped_column(Integer, comment="Canonical rows the last refresh read")


MART_FACT_TABLES = ("fct_incident", "fct_incident_patient", "fct_safety_action", "fct_learning_response",
                    "bridge_learning_response_incident")
"""Tables with one row per provider record: row-level security applies to them."""
