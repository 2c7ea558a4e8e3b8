"""Source tracking for every source family (issue 3): watermarks, upstream updates and deletions, schema drift.

Revision ID: 0002_source_tracking
Revises: 0001_initial

- ``source_watermark``: how far each incremental source has been read, advanced in the load's transaction.
- LFPSE governance flags and taxonomy version on ``incident``; strength of association and clinical outcome on
  ``incident_patient``; ``source_updated_at`` on actions and learning responses (the newest version wins);
  ``extra_attributes`` (JSON text) for unmapped source columns.
- ``incident.physical_harm_code`` and ``incident_patient.physical_harm_code`` become nullable: an LFPSE event
  can have no patient, and good-care or risk records carry no harm.
- ``batch_ledger`` gains ``superseded``, ``deleted`` and ``schema_drift``, and drops the ``loaded = inserted +
  updated + unchanged`` check: ``loaded`` counts source rows, the others count records, and with one row per
  patient (LFPSE) the two differ. DuckDB cannot drop a constraint, so there the table is rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_source_tracking"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.String(32)

_INCIDENT_COLUMNS = [
    sa.Column("never_event_type_code", sa.String(4), nullable=True, comment="LFPSE never-event-type code"),
    sa.Column("serious_incident", sa.Boolean(), nullable=True, comment="Legacy Serious Incident flag"),
    sa.Column("cqc_notify", sa.Boolean(), nullable=True, comment="Reported to the CQC"),
    sa.Column("hsib_notify", sa.Boolean(), nullable=True, comment="Referred to MNSI (formerly HSIB)"),
    sa.Column("is_anonymous", sa.Boolean(), nullable=True, comment="Recorded anonymously (LFPSE)"),
    sa.Column("data_sharing_opt_out", sa.Boolean(), nullable=True,
              comment="LFPSE DataSharingOptOut: patient details withheld, excluded from shared outputs"),
    sa.Column("taxonomy_version", sa.String(4), nullable=True, comment="LFPSE taxonomy version, e.g. '5'"),
    sa.Column("location_ods", sa.String(100), nullable=True, comment="Organisation(s) where it happened (ODS)"),
    sa.Column("service_area_source", sa.String(200), nullable=True),
    sa.Column("extra_attributes", sa.Text(), nullable=True,
              comment="JSON of source columns the profile does not map (schema drift), identifiers redacted"),
]
_PATIENT_COLUMNS = [
    sa.Column("strength_of_association_code", sa.String(4), nullable=True, comment="LFPSE code"),
    sa.Column("clinical_outcome", sa.Text(), nullable=True, comment="Free text, identifiers redacted"),
]


def _record_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("source_updated_at", sa.DateTime(), nullable=True, comment="Last update in the source"),
        sa.Column("extra_attributes", sa.Text(), nullable=True, comment="JSON of unmapped source columns"),
    ]


_LEDGER_COLUMNS = [
    sa.Column("superseded", sa.Integer(), nullable=True,
              comment="Records not applied because the warehouse already holds a newer version"),
    sa.Column("deleted", sa.Integer(), nullable=True, comment="Records marked deleted by this batch"),
    sa.Column("schema_drift", sa.Text(), nullable=True, comment="Source columns the profile does not know"),
]
LOADED_COMMENT = "Valid source rows merged into the warehouse"


def _comment(table: str, column: str, text: str) -> None:
    """COMMENT ON COLUMN directly: Alembic's alter_column(comment=...) does not compile under SQLAlchemy 2.1."""
    quoted = text.replace("'", "''")
    op.execute(f"COMMENT ON COLUMN {table}.{column} IS '{quoted}'")


def _is_duckdb() -> bool:
    return op.get_bind().dialect.name == "duckdb"


def upgrade() -> None:
    op.create_table(
        "source_watermark",
        sa.Column("provider_ods", sa.String(10), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("cursor_value", sa.DateTime(), nullable=False, comment="Newest source cursor value committed"),
        sa.Column("batch_id", sa.String(36), nullable=False, comment="Batch that advanced it"),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("provider_ods", "entity", name=op.f("pk_source_watermark")),
    )
    for column in _INCIDENT_COLUMNS:
        op.add_column("incident", column.copy())
    op.alter_column("incident", "physical_harm_code", existing_type=sa.String(2), nullable=True)
    _comment("incident", "physical_harm_code",
             "LFPSE level-of-physical-harm code; NULL only for an LFPSE event with no patient")
    for column in _PATIENT_COLUMNS:
        op.add_column("incident_patient", column.copy())
    # DuckDB cannot alter a column of a table that has an index: drop the index around it.
    op.drop_index(op.f("ix_incident_patient_incident_key"), table_name="incident_patient")
    op.alter_column("incident_patient", "physical_harm_code", existing_type=sa.String(2), nullable=True)
    op.create_index(op.f("ix_incident_patient_incident_key"), "incident_patient", ["incident_key"])
    _comment("incident_patient", "physical_harm_code",
             "LFPSE level-of-physical-harm code; NULL for a patient of a good-care or risk record")
    for table in ("safety_action", "learning_response"):
        for column in _record_columns():
            op.add_column(table, column)
    if _is_duckdb():
        _rebuild_ledger_duckdb(drop_split_check=True)
    else:
        op.drop_constraint(op.f("ck_batch_ledger_loaded_split"), "batch_ledger", type_="check")
        for column in _LEDGER_COLUMNS:
            op.add_column("batch_ledger", column.copy())
        _comment("batch_ledger", "loaded", LOADED_COMMENT)


def _ledger_columns(with_new: bool) -> list[sa.Column[object]]:
    columns: list[sa.Column[object]] = [
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
        sa.Column("loaded", sa.Integer(), nullable=False,
                  comment=LOADED_COMMENT if with_new else "Valid rows merged: inserted + updated + unchanged"),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False, comment="Source rows held back (see quarantine)"),
        sa.Column("duplicates", sa.Integer(), nullable=False, comment="Exact repeats of an earlier row in the batch"),
        sa.Column("status", sa.String(20), nullable=False, comment="loaded | rejected"),
        sa.Column("message", sa.Text(), nullable=True, comment="Why a batch was rejected"),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
    ]
    if with_new:
        columns[16:16] = [c.copy() for c in _LEDGER_COLUMNS]  # after duplicates, as in the model
    return columns


def _rebuild_ledger_duckdb(drop_split_check: bool) -> None:
    """DuckDB has no DROP CONSTRAINT: build the new ledger beside the old one, copy, swap, re-index."""
    op.drop_index(op.f("ix_batch_ledger_checksum"), table_name="batch_ledger")
    op.drop_index(op.f("ix_batch_ledger_provider_ods"), table_name="batch_ledger")
    constraints: list[sa.Constraint] = [
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batch_ledger")),
        sa.CheckConstraint("rows_in = loaded + quarantined + duplicates", name=op.f("ck_batch_ledger_conservation")),
    ]
    if not drop_split_check:
        constraints.append(
            sa.CheckConstraint("loaded = inserted + updated + unchanged", name=op.f("ck_batch_ledger_loaded_split")))
    old_columns = [c.name for c in _ledger_columns(with_new=False)]
    op.create_table("batch_ledger_rebuilt", *_ledger_columns(with_new=drop_split_check), *constraints)
    names = ", ".join(old_columns)
    op.execute(f"INSERT INTO batch_ledger_rebuilt ({names}) SELECT {names} FROM batch_ledger")
    op.drop_table("batch_ledger")
    op.rename_table("batch_ledger_rebuilt", "batch_ledger")
    op.create_index(op.f("ix_batch_ledger_provider_ods"), "batch_ledger", ["provider_ods"])
    op.create_index(op.f("ix_batch_ledger_checksum"), "batch_ledger", ["checksum"])


def downgrade() -> None:
    if _is_duckdb():
        _rebuild_ledger_duckdb(drop_split_check=False)
    else:
        for column in _LEDGER_COLUMNS:
            op.drop_column("batch_ledger", column.name)
        _comment("batch_ledger", "loaded", "Valid rows merged: inserted + updated + unchanged")
        op.create_check_constraint(op.f("ck_batch_ledger_loaded_split"), "batch_ledger",
                                   "loaded = inserted + updated + unchanged")
    # DuckDB cannot drop a column from a table that has an index: drop the index around it.
    op.drop_index(op.f("ix_safety_action_incident_key"), table_name="safety_action")
    op.drop_index(op.f("ix_incident_patient_incident_key"), table_name="incident_patient")
    for table in ("learning_response", "safety_action"):
        for column in _record_columns():
            op.drop_column(table, column.name)
    for column in _PATIENT_COLUMNS:
        op.drop_column("incident_patient", column.name)
    op.alter_column("incident_patient", "physical_harm_code", existing_type=sa.String(2), nullable=False)
    _comment("incident_patient", "physical_harm_code", "LFPSE level-of-physical-harm code")
    op.create_index(op.f("ix_safety_action_incident_key"), "safety_action", ["incident_key"])
    op.create_index(op.f("ix_incident_patient_incident_key"), "incident_patient", ["incident_key"])
    op.alter_column("incident", "physical_harm_code", existing_type=sa.String(2), nullable=False)
    _comment("incident", "physical_harm_code", "LFPSE level-of-physical-harm code")
    for column in _INCIDENT_COLUMNS:
        op.drop_column("incident", column.name)
    op.drop_table("source_watermark")
