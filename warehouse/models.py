"""The canonical model: the one place that defines what the warehouse holds and at what grain.

Every table's docstring states its grain. National codes follow LFPSE taxonomy v5 (see
``shared/reference``); wherever a code is mapped from a source, the source's own code or label is kept
verbatim next to it in a ``*_source`` column, so a mapping can be audited and redone.

Every canonical row carries provenance (:class:`Provenance`): the provider's ODS code, the source system, the
source record id, the batch that loaded it, when it was extracted, and a hash of its canonical content (used
by the merge to tell a changed record from an unchanged one).

Keys are hashed natural keys computed in Python (:func:`transforms.keys.natural_key`), never SERIALs, so that
DuckDB and PostgreSQL produce the same keys for the same data.

Patient identifiers never reach these tables: the NHS number arrives only as a keyed HMAC-SHA-256 pseudonym,
the date of birth only as age at incident, and names, addresses and postcodes not at all.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

KEY = String(32)
"""Hashed natural key: 32 hex characters (128 bits of SHA-256)."""

LOADED_CHECKSUM_INDEX = "uq_batch_ledger_loaded_checksum"
"""One loaded batch per (provider, entity, checksum)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Provenance:
    """Columns every canonical row carries: where it came from and which batch last wrote it."""

    provider_ods: Mapped[str] = mapped_column(String(10), comment="ODS code of the provider that sent the record")
    source_system: Mapped[str] = mapped_column(String(60), comment="Source system, e.g. 'datix_listing_csv'")
    source_record_id: Mapped[str] = mapped_column(String(64), comment="The record's id in the source system")
    batch_id: Mapped[str] = mapped_column(String(36), comment="Batch that last inserted or changed the row")
    extracted_at: Mapped[dt.datetime] = mapped_column(DateTime, comment="When the source data was extracted (UTC)")
    row_hash: Mapped[str] = mapped_column(String(64), comment="SHA-256 of the canonical content, for change detection")
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime, comment="When the row was first loaded (UTC)")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, comment="When the row last changed (UTC)")


class Organisation(Base):
    """Grain: one row per organisation (ODS code): partner trusts, GP practices and ICBs."""

    __tablename__ = "organisation"

    ods_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    org_type: Mapped[str] = mapped_column(String(20), comment="trust | gp_practice | icb")
    icb_code: Mapped[str | None] = mapped_column(String(10))
    region_code: Mapped[str | None] = mapped_column(String(10))


class Incident(Provenance, Base):
    """Grain: one row per incident record per provider (provider_ods, source_record_id).

    Harm here is the incident's worst physical harm across its patients (LFPSE codes run backwards: 5 none …
    1 fatal, so the worst is the lowest code). Per-patient harm lives in ``incident_patient``.
    """

    __tablename__ = "incident"
    __table_args__ = (UniqueConstraint("provider_ods", "source_record_id", name="uq_incident_provider_record"),)

    incident_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    local_reference: Mapped[str | None] = mapped_column(String(64), comment="Provider's own reference (inc_ourref)")
    event_type_code: Mapped[str] = mapped_column(String(20), comment="incident | outcome | risk | good_care")
    occurred_date: Mapped[dt.date] = mapped_column(Date, comment="When it happened: report by this date")
    occurred_time: Mapped[str | None] = mapped_column(String(5), comment="HH:MM, when recorded")
    reported_date: Mapped[dt.date | None] = mapped_column(Date, comment="When it was reported (timeliness)")
    category_code: Mapped[str | None] = mapped_column(String(60), comment="NRLS level-1 category key")
    category_source: Mapped[str | None] = mapped_column(String(200), comment="Category as sent, verbatim")
    subcategory_source: Mapped[str | None] = mapped_column(String(200))
    physical_harm_code: Mapped[str | None] = mapped_column(
        String(2), comment="LFPSE level-of-physical-harm code; NULL only for an LFPSE event with no patient"
    )
    physical_harm_source: Mapped[str | None] = mapped_column(String(200), comment="Harm label as sent, verbatim")
    psychological_harm_code: Mapped[str | None] = mapped_column(String(2), comment="LFPSE psychological harm")
    psychological_harm_source: Mapped[str | None] = mapped_column(String(200))
    harm_mapping_basis: Mapped[str] = mapped_column(
        String(20), comment="provider_profile | legacy_nrls | lfpse: how the harm code was obtained"
    )
    result_source: Mapped[str | None] = mapped_column(String(200), comment="Datix 'Result', verbatim")
    division_source: Mapped[str | None] = mapped_column(String(200))
    specialty_source: Mapped[str | None] = mapped_column(String(200))
    location_type_source: Mapped[str | None] = mapped_column(String(200))
    location_exact_source: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, comment="What happened (free text, identifiers redacted)")
    action_taken: Mapped[str | None] = mapped_column(Text, comment="Immediate action (free text, redacted)")
    lessons_learned: Mapped[str | None] = mapped_column(Text, comment="Lessons learned (free text, redacted)")
    duty_of_candour: Mapped[bool | None] = mapped_column(Boolean, comment="Duty of Candour applies")
    duty_of_candour_source: Mapped[str | None] = mapped_column(String(100))
    duty_of_candour_notified_date: Mapped[dt.date | None] = mapped_column(
        Date, comment="When the patient or family was notified under the Duty of Candour (Regulation 20)"
    )
    never_event: Mapped[bool | None] = mapped_column(Boolean)
    never_event_type_code: Mapped[str | None] = mapped_column(String(4), comment="LFPSE never-event-type code")
    serious_incident: Mapped[bool | None] = mapped_column(Boolean, comment="Legacy Serious Incident flag")
    cqc_notify: Mapped[bool | None] = mapped_column(Boolean, comment="Reported to the CQC")
    hsib_notify: Mapped[bool | None] = mapped_column(Boolean, comment="Referred to MNSI (formerly HSIB)")
    is_anonymous: Mapped[bool | None] = mapped_column(Boolean, comment="Recorded anonymously (LFPSE)")
    data_sharing_opt_out: Mapped[bool | None] = mapped_column(
        Boolean, comment="LFPSE DataSharingOptOut: patient details withheld, excluded from shared outputs"
    )
    taxonomy_version: Mapped[str | None] = mapped_column(String(4), comment="LFPSE taxonomy version, e.g. '5'")
    location_ods: Mapped[str | None] = mapped_column(String(100), comment="Organisation(s) where it happened (ODS)")
    service_area_source: Mapped[str | None] = mapped_column(String(200))
    extra_attributes: Mapped[str | None] = mapped_column(
        Text, comment="JSON of source columns the profile does not map (schema drift), identifiers redacted"
    )
    approval_status_source: Mapped[str | None] = mapped_column(String(60), comment="Source approval status")
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, comment="Last update in the source")
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, comment="Deleted upstream")
    record_origin: Mapped[str] = mapped_column(
        String(20), default="local", server_default=text("'local'"),
        comment="local: the provider's own record (its LRMS export; a GP practice's LFPSE record) | lfpse_national: "
                "the national LFPSE record of an organisation that also sends its own, kept apart for reconciliation")


class IncidentPatient(Provenance, Base):
    """Grain: one row per patient affected by an incident (incident, patient_sequence).

    ``source_record_id`` is the incident's source id. Harm and demographics are per patient, as in LFPSE.
    """

    __tablename__ = "incident_patient"
    __table_args__ = (
        UniqueConstraint("provider_ods", "source_record_id", "patient_sequence", name="uq_incident_patient_record"),
    )

    incident_patient_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    incident_key: Mapped[str] = mapped_column(KEY, index=True)
    patient_sequence: Mapped[int] = mapped_column(Integer, comment="1-based order of the patient in the incident")
    patient_pseudo_id: Mapped[str | None] = mapped_column(
        String(64), comment="Keyed HMAC-SHA-256 of the NHS number; NULL only when no NHS number was recorded"
    )
    age_at_incident_years: Mapped[int | None] = mapped_column(Integer, comment="Derived from date of birth")
    age_bracket_code: Mapped[str | None] = mapped_column(String(4), comment="LFPSE age-brackets-5 code")
    gender_code: Mapped[str | None] = mapped_column(String(2), comment="NHS Data Dictionary person stated gender")
    gender_source: Mapped[str | None] = mapped_column(String(100))
    ethnicity_code: Mapped[str | None] = mapped_column(String(2), comment="NHS Data Dictionary ethnic category")
    ethnicity_source: Mapped[str | None] = mapped_column(String(100))
    physical_harm_code: Mapped[str | None] = mapped_column(
        String(2), comment="LFPSE level-of-physical-harm code; NULL for a patient of a good-care or risk record"
    )
    physical_harm_source: Mapped[str | None] = mapped_column(String(200))
    psychological_harm_code: Mapped[str | None] = mapped_column(String(2))
    psychological_harm_source: Mapped[str | None] = mapped_column(String(200))
    strength_of_association_code: Mapped[str | None] = mapped_column(String(4), comment="LFPSE code")
    clinical_outcome: Mapped[str | None] = mapped_column(Text, comment="Free text, identifiers redacted")


class SafetyAction(Provenance, Base):
    """Grain: one row per safety action per provider (provider_ods, source_record_id)."""

    __tablename__ = "safety_action"
    __table_args__ = (UniqueConstraint("provider_ods", "source_record_id", name="uq_safety_action_provider_record"),)

    safety_action_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    incident_key: Mapped[str | None] = mapped_column(KEY, index=True, comment="Incident the action arose from")
    incident_source_record_id: Mapped[str | None] = mapped_column(String(64))
    learning_response_key: Mapped[str | None] = mapped_column(KEY)
    description: Mapped[str] = mapped_column(Text, comment="What will be done (free text, redacted)")
    owner_role: Mapped[str | None] = mapped_column(String(200), comment="A role, never a person's name")
    owning_org_ods: Mapped[str | None] = mapped_column(String(10))
    agreed_date: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    revised_due_date: Mapped[dt.date | None] = mapped_column(Date)
    completed_date: Mapped[dt.date | None] = mapped_column(Date)
    status_code: Mapped[str] = mapped_column(String(20), comment="open | completed | cancelled")
    status_source: Mapped[str | None] = mapped_column(String(200))
    effectiveness_measure: Mapped[str | None] = mapped_column(Text)
    is_system_wide: Mapped[bool | None] = mapped_column(Boolean)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, comment="Last update in the source")
    extra_attributes: Mapped[str | None] = mapped_column(Text, comment="JSON of unmapped source columns")


class LearningResponse(Provenance, Base):
    """Grain: one row per PSIRF learning response per provider (provider_ods, source_record_id)."""

    __tablename__ = "learning_response"
    __table_args__ = (
        UniqueConstraint("provider_ods", "source_record_id", name="uq_learning_response_provider_record"),
    )

    learning_response_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    response_type_code: Mapped[str] = mapped_column(
        String(20), comment="psii | aar | swarm | mdt | thematic | local | none"
    )
    response_type_source: Mapped[str | None] = mapped_column(String(200))
    commissioned_date: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    completed_date: Mapped[dt.date | None] = mapped_column(Date)
    status_code: Mapped[str] = mapped_column(String(20), comment="open | completed | cancelled")
    status_source: Mapped[str | None] = mapped_column(String(200))
    patient_family_involved: Mapped[bool | None] = mapped_column(Boolean)
    staff_involved: Mapped[bool | None] = mapped_column(Boolean)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, comment="Last update in the source")
    extra_attributes: Mapped[str | None] = mapped_column(Text, comment="JSON of unmapped source columns")


class LearningResponseIncident(Base):
    """Grain: one row per (learning response, incident) pair: which incidents a response covers."""

    __tablename__ = "learning_response_incident"

    learning_response_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    incident_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    provider_ods: Mapped[str] = mapped_column(String(10))
    batch_id: Mapped[str] = mapped_column(String(36))


class BatchLedger(Base):
    """Grain: one row per batch, i.e. one source file (or extract) of one entity for one provider.

    Conservation law, checked by a constraint: ``rows_in = loaded + quarantined + duplicates`` (source rows).
    ``inserted``/``updated``/``unchanged`` count the *records* of the batch's entity that the merge inserted,
    changed, or found identical, older (``superseded``) or already deleted; for sources with one row per
    patient, records and rows differ.
    """

    __tablename__ = "batch_ledger"
    # At most one *loaded* batch per (provider, entity, checksum): a unique index over loaded rows only (partial on
    # PostgreSQL; on DuckDB, which has no partial indexes, an index whose checksum part is NULL unless the batch is
    # loaded: migration 0005), the backstop behind the load's per-file lock (warehouse.locks).
    __table_args__ = (
        CheckConstraint("rows_in = loaded + quarantined + duplicates", name="conservation"),
        Index(LOADED_CHECKSUM_INDEX, "provider_ods", "entity", "checksum", unique=True,
              postgresql_where=text("status = 'loaded'")),
    )

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(250), comment="Airflow run id or CLI run id")
    provider_ods: Mapped[str] = mapped_column(String(10), index=True)
    entity: Mapped[str] = mapped_column(String(40), comment="incidents | safety_actions | learning_responses")
    source_system: Mapped[str] = mapped_column(String(60))
    profile: Mapped[str] = mapped_column(String(100), comment="Mapping profile used")
    source_file: Mapped[str] = mapped_column(String(500))
    checksum: Mapped[str] = mapped_column(String(64), index=True, comment="SHA-256 of the file's bytes")
    encoding: Mapped[str | None] = mapped_column(String(20), comment="utf-8 | utf-8-sig | cp1252")
    rows_in: Mapped[int] = mapped_column(Integer)
    loaded: Mapped[int] = mapped_column(Integer, comment="Valid source rows merged into the warehouse")
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    quarantined: Mapped[int] = mapped_column(Integer, comment="Source rows held back (see quarantine)")
    duplicates: Mapped[int] = mapped_column(Integer, comment="Exact repeats of an earlier row in the batch")
    superseded: Mapped[int | None] = mapped_column(
        Integer, comment="Records not applied because the warehouse already holds a newer version"
    )
    deleted: Mapped[int | None] = mapped_column(Integer, comment="Records marked deleted by this batch")
    schema_drift: Mapped[str | None] = mapped_column(Text, comment="Source columns the profile does not know")
    status: Mapped[str] = mapped_column(String(20), comment="loaded | rejected")
    message: Mapped[str | None] = mapped_column(Text, comment="Why a batch was rejected")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Quarantine(Base):
    """Grain: one row per (source row, rule, field) that failed: a row can fail several rules.

    ``found`` never holds an identifier in clear: identifying fields are described, not copied.
    """

    __tablename__ = "quarantine"

    quarantine_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36), index=True)
    provider_ods: Mapped[str] = mapped_column(String(10), index=True)
    entity: Mapped[str] = mapped_column(String(40))
    source_file: Mapped[str] = mapped_column(String(500))
    source_row_number: Mapped[int] = mapped_column(Integer, comment="1-based data row number in the file")
    source_record_id: Mapped[str | None] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(80))
    field: Mapped[str | None] = mapped_column(String(100), comment="Source column name")
    found: Mapped[str | None] = mapped_column(Text, comment="What was found (identifiers described, never copied)")
    expected: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)


class SourceWatermark(Base):
    """Grain: one row per (provider, entity) of an incremental source: how far extraction has got.

    Written in the same transaction as the batch that read up to it, so it only advances once data is committed.
    """

    __tablename__ = "source_watermark"

    provider_ods: Mapped[str] = mapped_column(String(10), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40), primary_key=True)
    cursor_value: Mapped[dt.datetime] = mapped_column(DateTime, comment="Newest source cursor value committed")
    batch_id: Mapped[str] = mapped_column(String(36), comment="Batch that advanced it")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


CANONICAL_TABLES = {
    "incidents": Incident.__table__,
    "incident_patients": IncidentPatient.__table__,
    "safety_actions": SafetyAction.__table__,
    "learning_responses": LearningResponse.__table__,
}


# Further tables live in their own modules but share this metadata (one schema, one migration history). The
# analysts' marts are not here: the dbt project in warehouse/dbt builds them from these tables.
from warehouse import dq_models  # noqa: E402, F401
