"""The single write path for a batch: stage, count, merge, quarantine and ledger in one transaction.

A batch either lands completely, with a ledger row whose counts account for every source row, or not at all:
any exception rolls the transaction back and leaves the warehouse exactly as it was. That is what makes a rerun
safe, and what lets the ledger be trusted as the record of what was loaded.

The data moves set-based, never row by row: each frame is bulk-loaded into a temporary staging table (DuckDB
reads the DataFrame natively; PostgreSQL gets ``COPY ... FROM STDIN``), and each target table then takes one
``INSERT ... ON CONFLICT DO UPDATE`` whose ``WHERE`` clause skips rows whose ``row_hash`` has not changed, so an
unchanged record keeps its ``batch_id`` and ``updated_at``. The same SQL runs on both engines.

Frames are checked in pandas before anything is staged (columns, NOT NULL, VARCHAR lengths, duplicate keys),
because DuckDB ignores VARCHAR lengths and the two engines would otherwise fail at different points, with
different errors, on the same bad frame.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, cast

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse.db import is_duckdb
from warehouse.dq_results import BatchQuality, batch_frames
from warehouse.locks import file_lock, process_file_lock, shared_load_lock
from warehouse.models import CANONICAL_TABLES, Base

__all__ = ["AlreadyLoaded", "ConservationError", "LedgerEntry", "LoadError", "LoadResult", "load_batch",
           "record_rejection"]

_TABLES = {key: cast(sa.Table, table) for key, table in CANONICAL_TABLES.items()}
LINK_TABLES = {"learning_response_incidents": cast(sa.Table, Base.metadata.tables["learning_response_incident"])}
"""Link tables have no content hash: a batch replaces the links of the records it carries."""
_QUARANTINE = Base.metadata.tables["quarantine"]
_LEDGER = Base.metadata.tables["batch_ledger"]

Frames: TypeAlias = pd.DataFrame | Sequence[Path]
"""A table's rows for one batch: a frame, or the parquet parts a batch read in chunks was staged as."""

MERGE_SET_COLUMNS = ("loaded_at", "updated_at")
"""Columns the merge sets itself; a frame must not carry them."""


class LoadError(RuntimeError):
    """The frames handed to the loader are inconsistent; nothing was written. A bug upstream, not bad input."""


class ConservationError(LoadError):
    """``rows_in != loaded + quarantined + duplicates``: some source rows would be unaccounted for."""


class AlreadyLoaded(Exception):
    """Another batch of the same file (provider, entity, checksum) is loaded: nothing was written. The loser of two
    concurrent loads of one file ends here."""

    def __init__(self, entry: LedgerEntry, loaded_batch_id: str) -> None:
        super().__init__(f"{entry.source_file}: already loaded (same checksum) by batch {loaded_batch_id}")
        self.loaded_batch_id = loaded_batch_id


@dataclass
class LedgerEntry:
    """What the pipeline knows about a batch before loading it."""

    batch_id: str
    run_id: str | None
    provider_ods: str
    entity: str
    source_system: str
    profile: str
    source_file: str
    checksum: str
    encoding: str | None
    rows_in: int
    quarantined: int
    duplicates: int
    started_at: dt.datetime  # naive UTC
    loaded: int | None = None  # valid source rows; None: the primary entity's record count (one row per record)
    schema_drift: str | None = None  # source columns the profile does not know, reported in the ledger
    watermark: dt.datetime | None = None  # incremental sources: cursor to store once this batch commits


@dataclass
class LoadResult:
    """What was written to the ledger for a batch."""

    batch_id: str
    provider_ods: str
    entity: str
    source_file: str
    status: str
    rows_in: int
    loaded: int
    inserted: int
    updated: int
    unchanged: int
    quarantined: int
    duplicates: int
    message: str | None
    superseded: int = 0
    deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Counts:
    inserted: int
    updated: int
    unchanged: int  # includes superseded: received, but the warehouse already holds a newer version
    superseded: int = 0

    @property
    def loaded(self) -> int:
        return self.inserted + self.updated + self.unchanged


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --- checking and preparing frames -------------------------------------------------------------------------


def _columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns if c.name not in MERGE_SET_COLUMNS]


def _prepare(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    """Check ``frame`` against ``table`` and return it with exactly the staged columns, in table order.

    Values are normalised so both engines read them the same way: float columns bound for INTEGER become
    ``Int64`` (PostgreSQL rejects "1.0" and both engines reject NaN; a non-integral value raises here), and
    timezone-aware datetimes become naive UTC (DuckDB would otherwise convert them to its session time zone).
    """
    columns = _columns(table)
    if frame.empty and len(frame.columns) == 0:
        frame = pd.DataFrame(columns=columns)
    missing = [c for c in columns if c not in frame.columns]
    unexpected = [c for c in frame.columns if c not in columns]
    if missing or unexpected:
        raise LoadError(f"frame for {table.name} does not match the table: missing {missing}, unexpected {unexpected}")
    frame = frame[columns].copy()
    problems: list[str] = []
    for column in table.columns:
        if column.name not in frame.columns:
            continue
        series = frame[column.name]
        if isinstance(column.type, sa.Integer) and pd.api.types.is_float_dtype(series.dtype):
            try:
                frame[column.name] = series = series.astype("Int64")
            except (TypeError, ValueError):
                problems.append(f"{column.name}: non-integral values for an INTEGER column")
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            frame[column.name] = series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        nulls = int(series.isna().sum())
        if not column.nullable and nulls:
            problems.append(f"{column.name}: {nulls} NULL value(s) in a NOT NULL column")
        length = getattr(column.type, "length", None)
        if isinstance(column.type, sa.String) and length is not None and len(series):
            too_long = int((series.dropna().astype(str).str.len() > length).sum())
            if too_long:
                problems.append(f"{column.name}: {too_long} value(s) longer than {length} characters")
    key = [c.name for c in table.primary_key.columns]
    duplicated = int(frame.duplicated(subset=key).sum())
    if duplicated:
        problems.append(f"{duplicated} duplicate key(s) on {', '.join(key)}")
    if problems:
        raise LoadError(f"frame for {table.name} cannot be loaded: " + "; ".join(problems))
    return frame


# --- staging -----------------------------------------------------------------------------------------------


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _stage(conn: Connection, table: sa.Table, frame: pd.DataFrame) -> str:
    """Bulk-load ``frame`` into a temporary ``stg_<table>`` with the target's column types; returns its name."""
    staging = f"stg_{table.name}"
    columns = list(frame.columns)
    column_list = ", ".join(_q(conn, c) for c in columns)
    if is_duckdb(conn):
        # DuckDB scans the DataFrame in place. The staging table takes its types from the target, and every
        # value is CAST into them, so pandas dtypes (string, Int64, boolean, objects holding dates, all-NULL
        # columns that DuckDB sees as type NULL) all arrive as the warehouse types.
        view = f"psirf_frame_{table.name}"
        casts = ", ".join(
            f"CAST({_q(conn, c)} AS {table.c[c].type.compile(dialect=conn.dialect)}) AS {_q(conn, c)}" for c in columns
        )
        conn.exec_driver_sql(
            f"CREATE OR REPLACE TEMP TABLE {staging} AS SELECT {column_list} FROM {_q(conn, table.name)} LIMIT 0"
        )
        raw = conn.connection.driver_connection
        raw.register(view, frame)  # type: ignore[union-attr]
        try:
            conn.exec_driver_sql(f"INSERT INTO {staging} ({column_list}) SELECT {casts} FROM {view}")
        finally:
            raw.unregister(view)  # type: ignore[union-attr]
    else:
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {staging} (LIKE {_q(conn, table.name)} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        drop = ", ".join(f"DROP COLUMN {_q(conn, c.name)}" for c in table.columns if c.name not in columns)
        if drop:
            conn.exec_driver_sql(f"ALTER TABLE {staging} {drop}")
        _copy(conn, staging, frame)
    return staging


def _copy(conn: Connection, staging: str, frame: pd.DataFrame) -> None:
    """PostgreSQL bulk path for a frame: as Arrow, through the same ``COPY`` as the parts (:func:`_copy_table`)."""
    import pyarrow as pa

    if frame.empty:
        return
    _copy_table(conn, staging, pa.Table.from_pandas(frame, preserve_index=False))


def _as_dates(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    """DATE columns from the midnight timestamps the transform keeps them as (one vectorised step per column)."""
    for column in table.columns:
        if isinstance(column.type, sa.Date) and column.name in frame:
            values = pd.to_datetime(frame[column.name])
            frame[column.name] = values.dt.date.astype(object).where(values.notna(), None)
    return frame


def _stage_parts(conn: Connection, table: sa.Table, parts: Sequence[Path]) -> str:
    """Bulk-load a batch's parquet parts into ``stg_<table>`` with the warehouse's column types, then check them
    (NOT NULL, VARCHAR lengths, duplicate keys) in one query: :func:`_prepare`'s checks, as SQL.

    DuckDB reads the files natively (``read_parquet``, cast to the warehouse types) into a temporary table once,
    so counting, inserting and updating read it from memory, not the files again. PostgreSQL gets each part as
    Arrow, written as CSV by Arrow's writer and streamed through ``COPY`` into a temporary table (never WAL-logged):
    no pandas and no Python per value on the way.
    """
    columns = _columns(table)
    if parts:
        names = _parquet_columns(parts[0])
        missing = [c for c in columns if c not in names]
        unexpected = [c for c in names if c not in columns]
        if missing or unexpected:
            raise LoadError(f"frame for {table.name} does not match the table: missing {missing}, "
                            f"unexpected {unexpected}")
    staging = f"stg_{table.name}"
    column_list = ", ".join(_q(conn, c) for c in columns)
    if is_duckdb(conn):
        if not parts:
            conn.exec_driver_sql(f"CREATE OR REPLACE TEMP TABLE {staging} AS SELECT {column_list} "
                                 f"FROM {_q(conn, table.name)} LIMIT 0")
        else:
            files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in parts)
            casts = ", ".join(f"CAST({_q(conn, c)} AS {table.c[c].type.compile(dialect=conn.dialect)}) AS {_q(conn, c)}"
                              for c in columns)
            conn.exec_driver_sql(f"CREATE OR REPLACE TEMP TABLE {staging} AS SELECT {casts} "
                                 f"FROM read_parquet([{files}], union_by_name = true)")
        _check_staged(conn, table, staging)
        return staging
    conn.exec_driver_sql(f"CREATE TEMP TABLE {staging} (LIKE {_q(conn, table.name)} INCLUDING DEFAULTS) "
                         "ON COMMIT DROP")
    drop = ", ".join(f"DROP COLUMN {_q(conn, c.name)}" for c in table.columns if c.name not in columns)
    if drop:
        conn.exec_driver_sql(f"ALTER TABLE {staging} {drop}")
    for part in parts:
        _copy_arrow(conn, staging, table, part)
    _check_staged(conn, table, staging)
    return staging


def _copy_arrow(conn: Connection, staging: str, table: sa.Table, part: Path) -> None:
    """One parquet part into a PostgreSQL staging table through ``COPY … (FORMAT csv)``, written by Arrow.

    Arrow quotes every string and leaves a NULL unquoted and empty, which is exactly how PostgreSQL's CSV format
    tells an empty string from NULL. Dates kept as midnight timestamps become DATE values; timestamps are written to
    the microsecond PostgreSQL stores."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = pq.read_table(part, columns=_columns(table))
    dates = {c.name for c in table.columns if isinstance(c.type, sa.Date)}
    converted = []
    for name, column in zip(data.column_names, data.columns, strict=True):
        if name in dates and pa.types.is_timestamp(column.type):
            column = column.cast(pa.date32())
        converted.append(column)
    _copy_table(conn, staging, pa.Table.from_arrays(converted, names=data.column_names))


def _copy_table(conn: Connection, staging: str, data: Any) -> None:
    """An Arrow table into a PostgreSQL table through ``COPY … (FORMAT csv)``."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    if not data.num_rows:
        return
    converted = []
    for column in data.columns:
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us", tz=column.type.tz), safe=False)
        elif pa.types.is_large_string(column.type) or pa.types.is_string_view(column.type):
            column = column.cast(pa.string())
        converted.append(column.combine_chunks())  # contiguous: the CSV writer never sees a sliced string array
    data = pa.Table.from_arrays(converted, names=data.column_names)
    buffer = pa.BufferOutputStream()
    pa_csv.write_csv(data, buffer, write_options=pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    column_list = ", ".join(_q(conn, c) for c in data.column_names)
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
            f"COPY {staging} ({column_list}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getvalue().to_pybytes())


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def _check_staged(conn: Connection, table: sa.Table, staging: str, keys_only: bool = False) -> None:
    """:func:`_prepare`'s checks over staged rows (NOT NULL, VARCHAR lengths, duplicate keys), as one query."""
    checks: list[tuple[str, str]] = []
    if not keys_only:
        for column in table.columns:
            if column.name in MERGE_SET_COLUMNS:
                continue
            name = _q(conn, column.name)
            if not column.nullable:
                checks.append((f"SUM(CASE WHEN {name} IS NULL THEN 1 ELSE 0 END)",
                               f"{column.name}: {{}} NULL value(s) in a NOT NULL column"))
            length = getattr(column.type, "length", None)
            if isinstance(column.type, sa.String) and length is not None:
                checks.append((f"SUM(CASE WHEN length({name}) > {int(length)} THEN 1 ELSE 0 END)",
                               f"{column.name}: {{}} value(s) longer than {length} characters"))
    key = [c.name for c in table.primary_key.columns]
    key_list = ", ".join(_q(conn, k) for k in key)
    checks.append((f"(SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM {staging} "
                   f"GROUP BY {key_list}) k)", f"{{}} duplicate key(s) on {', '.join(key)}"))
    aggregates = f"(SELECT {', '.join(sql for sql, _ in checks[:-1])} FROM {staging}) a, " if len(checks) > 1 else ""
    row = conn.exec_driver_sql(f"SELECT * FROM {aggregates}(SELECT {checks[-1][0]}) d").one()
    problems = [text.format(int(n)) for (_, text), n in zip(checks, row, strict=True) if n]
    if problems:
        raise LoadError(f"frame for {table.name} cannot be loaded: " + "; ".join(problems))


def _staged_frame(conn: Connection, table: sa.Table, value: Frames) -> str:
    if isinstance(value, pd.DataFrame):
        return _stage(conn, table, _prepare(value, table))
    return _stage_parts(conn, table, value)


def _read_frames(value: Frames) -> pd.DataFrame:
    """Small per-batch frames (quarantine, deletions) from their parts."""
    if isinstance(value, pd.DataFrame):
        return value
    frames = [pd.read_parquet(p) for p in value]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _drop_staging(conn: Connection, staging: list[str]) -> None:
    """DuckDB temp tables and views outlive the transaction (PostgreSQL's are ON COMMIT DROP): drop them."""
    if is_duckdb(conn):
        views = {row[0] for row in conn.exec_driver_sql("SELECT view_name FROM duckdb_views() WHERE temporary")}
        for name in staging:
            conn.exec_driver_sql(f"DROP {'VIEW' if name in views else 'TABLE'} IF EXISTS {name}")


# --- counting and merging ----------------------------------------------------------------------------------


def _key_join(conn: Connection, table: sa.Table, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{_q(conn, c.name)} = {right}.{_q(conn, c.name)}" for c in table.primary_key.columns)


def _older(table: sa.Table, staged: str, target: str) -> str:
    """SQL that is true when the staged version is older than the warehouse's: the newest source update wins."""
    if "source_updated_at" not in table.c:
        return "FALSE"
    return f"({staged}.source_updated_at < {target}.source_updated_at)"


def _count_changes(conn: Connection, table: sa.Table, staging: str) -> _Counts:
    """Classify the staged rows against the target before merging: new, changed, older than held, or same."""
    first_key = _q(conn, table.primary_key.columns[0].name)
    older = _older(table, "s", "t")
    row = conn.exec_driver_sql(
        f"""SELECT COUNT(*) - COUNT(t.{first_key}),
                   COALESCE(SUM(CASE WHEN t.row_hash <> s.row_hash AND NOT COALESCE({older}, FALSE)
                                     THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN t.row_hash = s.row_hash OR COALESCE({older}, FALSE) THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN t.row_hash <> s.row_hash AND COALESCE({older}, FALSE)
                                     THEN 1 ELSE 0 END), 0)
            FROM {staging} s LEFT JOIN {_q(conn, table.name)} t ON {_key_join(conn, table, "t", "s")}"""
    ).one()
    return _Counts(inserted=int(row[0]), updated=int(row[1]), unchanged=int(row[2]), superseded=int(row[3]))


def _merge_table(conn: Connection, table: sa.Table, staging: str, now: dt.datetime) -> None:
    """One set-based upsert: new keys are inserted, changed rows updated (keeping ``loaded_at``), the rest untouched.

    PostgreSQL takes ``INSERT … ON CONFLICT DO UPDATE``. DuckDB's ``ON CONFLICT`` probes the primary-key index for
    every row and again for each conflict; there the new keys (an anti-join) are a plain insert and the changed
    rows one ``UPDATE … FROM``, so the index is probed once per row."""
    target = _q(conn, table.name)
    keys = [c.name for c in table.primary_key.columns]
    columns = _columns(table)
    column_list = ", ".join(_q(conn, c) for c in columns)
    newer = f"NOT COALESCE({_older(table, 's', target)}, FALSE)"
    if is_duckdb(conn):
        join = " AND ".join(f"s.{_q(conn, k)} = {target}.{_q(conn, k)}" for k in keys)
        conn.execute(sa.text(
            f"""INSERT INTO {target} ({column_list}, loaded_at, updated_at)
                SELECT {", ".join("s." + _q(conn, c) for c in columns)}, CAST(:now AS TIMESTAMP),
                       CAST(:now AS TIMESTAMP)
                FROM {staging} s WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {join})"""), {"now": now})
        assignments = ", ".join(f"{_q(conn, c)} = s.{_q(conn, c)}" for c in columns if c not in keys)
        conn.execute(sa.text(
            f"""UPDATE {target} SET {assignments}, updated_at = CAST(:now AS TIMESTAMP)
                FROM {staging} s
                WHERE {join} AND {target}.row_hash <> s.row_hash AND {newer}"""), {"now": now})
        return
    assignments = ", ".join(f"{_q(conn, c)} = excluded.{_q(conn, c)}" for c in columns if c not in keys)
    conn.execute(
        sa.text(
            f"""INSERT INTO {target} ({column_list}, loaded_at, updated_at)
                SELECT {column_list}, CAST(:now AS TIMESTAMP), CAST(:now AS TIMESTAMP) FROM {staging}
                ON CONFLICT ({", ".join(_q(conn, k) for k in keys)}) DO UPDATE
                SET {assignments}, updated_at = excluded.updated_at
                WHERE {target}.row_hash <> excluded.row_hash
                  AND NOT COALESCE({_older(table, "excluded", target)}, FALSE)"""
        ),
        {"now": now},
    )


def _prune_patients(conn: Connection, staged: dict[str, str], now: dt.datetime) -> None:
    """An updated incident may have fewer patients than before: drop its patients that this batch no longer has.

    Their incident's ``updated_at`` moves too, so the incremental marts (which read what changed) see the change:
    a deleted row leaves no timestamp of its own behind.
    """
    incidents = staged.get("incidents", staged["incident_patients"])
    gone = (f"FROM incident_patient WHERE incident_key IN (SELECT incident_key FROM {incidents}) "
            f"AND NOT EXISTS (SELECT 1 FROM {staged['incident_patients']} p "
            "WHERE p.incident_patient_key = incident_patient.incident_patient_key)")
    conn.execute(sa.text(f"UPDATE incident SET updated_at = CAST(:now AS TIMESTAMP) "
                         f"WHERE incident_key IN (SELECT incident_key {gone})"), {"now": now})
    conn.exec_driver_sql(f"DELETE {gone}")


def _apply_deletions(conn: Connection, table: sa.Table, frame: pd.DataFrame, batch_id: str,
                     now: dt.datetime) -> tuple[str, int]:
    """Mark records deleted upstream, unless the warehouse holds a version newer than the deletion."""
    key = table.primary_key.columns[0].name
    staging = f"stg_del_{table.name}"
    deletions = frame[[key, "source_updated_at"]].drop_duplicates(subset=[key], keep="last")
    if is_duckdb(conn):
        view = f"psirf_del_{table.name}"
        conn.exec_driver_sql(f"CREATE OR REPLACE TEMP TABLE {staging} ({key} VARCHAR, source_updated_at TIMESTAMP)")
        raw = conn.connection.driver_connection
        raw.register(view, deletions)  # type: ignore[union-attr]
        try:
            conn.exec_driver_sql(f"INSERT INTO {staging} SELECT CAST({key} AS VARCHAR), "
                                 f"CAST(source_updated_at AS TIMESTAMP) FROM {view}")
        finally:
            raw.unregister(view)  # type: ignore[union-attr]
    else:
        conn.exec_driver_sql(f"CREATE TEMP TABLE {staging} ({key} VARCHAR, source_updated_at TIMESTAMP) "
                             "ON COMMIT DROP")
        _copy(conn, staging, deletions)
    target = _q(conn, table.name)
    applies = (f"{target}.{key} = d.{key} AND {target}.is_deleted = FALSE AND ({target}.source_updated_at IS NULL "
               f"OR d.source_updated_at IS NULL OR d.source_updated_at >= {target}.source_updated_at)")
    count = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {target}, {staging} d WHERE {applies}").scalar_one()
    conn.execute(sa.text(
        f"""UPDATE {target} SET is_deleted = TRUE, batch_id = :batch, updated_at = CAST(:now AS TIMESTAMP),
                   source_updated_at = COALESCE(d.source_updated_at, {target}.source_updated_at)
            FROM {staging} d WHERE {applies}"""), {"batch": batch_id, "now": now})
    return staging, int(count)


def _replace_links(conn: Connection, table: sa.Table, frame: pd.DataFrame, staged: dict[str, str]) -> str:
    """The learning responses in this batch get exactly the incident links it sends (old links are dropped)."""
    staging = _stage(conn, table, frame)
    columns = ", ".join(_q(conn, c) for c in frame.columns)
    conn.exec_driver_sql(f"DELETE FROM {table.name} WHERE learning_response_key IN "
                         f"(SELECT learning_response_key FROM {staged['learning_responses']})")
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {staging} "
                         "ON CONFLICT DO NOTHING")
    return staging


def _upsert_watermark(conn: Connection, entry: LedgerEntry, now: dt.datetime) -> None:
    """Advance the source's cursor in the batch's own transaction: it moves only if the data committed."""
    conn.execute(sa.text(
        """INSERT INTO source_watermark (provider_ods, entity, cursor_value, batch_id, updated_at)
           VALUES (:ods, :entity, :cursor, :batch, :now)
           ON CONFLICT (provider_ods, entity) DO UPDATE
           SET cursor_value = excluded.cursor_value, batch_id = excluded.batch_id, updated_at = excluded.updated_at
           WHERE source_watermark.cursor_value < excluded.cursor_value"""),
        {"ods": entry.provider_ods, "entity": entry.entity, "cursor": entry.watermark, "batch": entry.batch_id,
         "now": now})


def _insert_quarantine(conn: Connection, frame: pd.DataFrame) -> str:
    """Insert quarantine rows; a key already present (a reload of the same file) is left as it is."""
    staging = _stage(conn, _QUARANTINE, frame)
    column_list = ", ".join(_q(conn, c) for c in frame.columns)
    conn.exec_driver_sql(
        f"INSERT INTO quarantine ({column_list}) SELECT {column_list} FROM {staging} "
        "ON CONFLICT (quarantine_key) DO NOTHING"
    )
    return staging


def _insert_ledger(conn: Connection, entry: LedgerEntry, result: LoadResult) -> None:
    conn.execute(
        sa.insert(_LEDGER).values(
            batch_id=entry.batch_id,
            run_id=entry.run_id,
            provider_ods=entry.provider_ods,
            entity=entry.entity,
            source_system=entry.source_system,
            profile=entry.profile,
            source_file=entry.source_file,
            checksum=entry.checksum,
            encoding=entry.encoding,
            rows_in=result.rows_in,
            loaded=result.loaded,
            inserted=result.inserted,
            updated=result.updated,
            unchanged=result.unchanged,
            quarantined=result.quarantined,
            duplicates=result.duplicates,
            superseded=result.superseded,
            deleted=result.deleted,
            schema_drift=entry.schema_drift,
            status=result.status,
            message=result.message,
            started_at=entry.started_at,
            finished_at=_utcnow(),
        )
    )


def _result(
    entry: LedgerEntry, status: str, counts: _Counts, quarantined: int, duplicates: int, message: str | None,
    deleted: int = 0,
) -> LoadResult:
    loaded = entry.loaded if entry.loaded is not None and status == "loaded" else counts.loaded
    return LoadResult(
        batch_id=entry.batch_id,
        provider_ods=entry.provider_ods,
        entity=entry.entity,
        source_file=entry.source_file,
        status=status,
        rows_in=entry.rows_in,
        loaded=loaded,
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        quarantined=quarantined,
        duplicates=duplicates,
        message=message,
        superseded=counts.superseded,
        deleted=deleted,
    )


# --- the API -----------------------------------------------------------------------------------------------


def _insert_quality(conn: Connection, entry: LedgerEntry, status: str, quality: BatchQuality | None) -> list[str]:
    """The batch's data-quality results, in the ledger's transaction (bulk-staged like the canonical rows)."""
    if quality is None:
        return []
    frames = batch_frames(quality, batch_id=entry.batch_id, run_id=entry.run_id, provider_ods=entry.provider_ods,
                          entity=entry.entity, source_file=entry.source_file, status=status, at=_utcnow())
    staged = []
    for name, frame in frames.items():
        if frame.empty:
            continue
        table = Base.metadata.tables[name]
        staging = _stage(conn, table, _prepare(frame, table))
        column_list = ", ".join(_q(conn, c) for c in frame.columns)
        conn.exec_driver_sql(f"INSERT INTO {name} ({column_list}) SELECT {column_list} FROM {staging}")
        staged.append(staging)
    return staged


def load_batch(
    engine: Engine,
    entry: LedgerEntry,
    tables: dict[str, Frames],
    quarantine: Frames,
    quality: BatchQuality | None = None,
    deletions: dict[str, Frames] | None = None,
) -> LoadResult:
    """Load one batch in one transaction and record it in the ledger.

    ``tables`` maps keys of :data:`warehouse.models.CANONICAL_TABLES` to frames with that table's columns except
    ``loaded_at``/``updated_at`` (or to the parquet parts of such frames: a batch staged in chunks); the first is
    the batch's primary entity, whose rows the ledger counts.
    ``quarantine`` has the quarantine table's columns. Raises :class:`LoadError` (nothing written) when the frames
    are inconsistent, :class:`ConservationError` when the counts do not add up to ``entry.rows_in``.
    ``quality`` (optional) is the batch's data-quality results, written in the same transaction as the ledger row.
    ``deletions`` (optional) maps table keys to frames of (primary key, ``source_updated_at``) deleted upstream.
    ``entry.watermark`` (optional) advances the source's cursor in the same transaction.
    """
    if not tables:
        raise LoadError(f"batch {entry.batch_id}: no tables to load")
    links = {key: tables.pop(key) for key in list(tables) if key in LINK_TABLES}
    unknown = [key for key in tables if key not in CANONICAL_TABLES]
    if unknown:
        raise LoadError(f"batch {entry.batch_id}: unknown tables {unknown}; expected keys of {list(CANONICAL_TABLES)}")
    # Frames given whole are checked before the transaction starts; parts are checked as they are staged.
    frames: dict[str, Frames] = {key: _prepare(value, _TABLES[key]) if isinstance(value, pd.DataFrame) else value
                                 for key, value in tables.items()}
    primary = next(iter(frames))
    held = _read_frames(quarantine)
    held_back = None if held.empty else _prepare(held.drop_duplicates("quarantine_key"), _QUARANTINE)

    try:
        with process_file_lock(entry.provider_ods, entry.checksum), engine.begin() as conn:
            shared_load_lock(conn)  # the marts refresh never reads while this batch is half-committed
            file_lock(conn, entry.provider_ods, entry.checksum)  # one load of this file at a time ...
            loaded = _loaded_batch(conn, entry)  # ... and under the lock, the ledger says whether it is done
            if loaded is not None:
                raise AlreadyLoaded(entry, loaded)
            return _load_in(conn, entry, frames, links, primary, held_back, quality, deletions)
    except sa.exc.DBAPIError:  # e.g. the unique index over loaded batches, should the lock ever be bypassed
        with engine.connect() as conn:
            loaded = _loaded_batch(conn, entry)
        if loaded is None:
            raise
        raise AlreadyLoaded(entry, loaded) from None


def _loaded_batch(conn: Connection, entry: LedgerEntry) -> str | None:
    """The batch id that loaded this file (provider, entity, checksum), if any."""
    return conn.execute(sa.select(_LEDGER.c.batch_id).where(
        _LEDGER.c.provider_ods == entry.provider_ods, _LEDGER.c.entity == entry.entity,
        _LEDGER.c.checksum == entry.checksum, _LEDGER.c.status == "loaded").limit(1)).scalar()


def _load_in(conn: Connection, entry: LedgerEntry, frames: dict[str, Frames], links: dict[str, Frames],
             primary: str, held_back: pd.DataFrame | None, quality: BatchQuality | None,
             deletions: dict[str, Frames] | None) -> LoadResult:
    """The batch's writes, inside the caller's transaction and locks."""
    staged = {key: _staged_frame(conn, _TABLES[key], value) for key, value in frames.items()}
    counts = {key: _count_changes(conn, _TABLES[key], staging) for key, staging in staged.items()}
    deleted = 0
    result = _result(entry, "loaded", counts[primary], entry.quarantined, entry.duplicates, None)
    # Checked before anything is merged; the ledger's CHECK constraint is the backstop at insert time.
    if result.rows_in != result.loaded + result.quarantined + result.duplicates:
        raise ConservationError(
            f"batch {entry.batch_id} ({entry.source_file}): rows_in {result.rows_in} != loaded {result.loaded} "
            f"+ quarantined {result.quarantined} + duplicates {result.duplicates}; nothing was written"
        )
    now = _utcnow()
    for key, staging in staged.items():
        _merge_table(conn, _TABLES[key], staging, now)
    if "incident_patients" in staged:
        _prune_patients(conn, staged, now)
    for key, value in links.items():
        link = _prepare(_read_frames(value), LINK_TABLES[key])
        staged[key] = _replace_links(conn, LINK_TABLES[key], link, staged)
    for key, value in (deletions or {}).items():
        frame = _read_frames(value)
        if len(frame):
            staging, applied = _apply_deletions(conn, _TABLES[key], frame, entry.batch_id, now)
            staged[f"del_{key}"] = staging
            deleted += applied if key == primary else 0
    result = dataclasses.replace(result, deleted=deleted)
    if entry.watermark is not None:
        _upsert_watermark(conn, entry, now)
    if held_back is not None:
        staged["quarantine"] = _insert_quarantine(conn, held_back)
    _insert_ledger(conn, entry, result)
    quality_staged = _insert_quality(conn, entry, result.status, quality)
    _drop_staging(conn, list(staged.values()) + quality_staged)
    return result


def record_rejection(
    engine: Engine, entry: LedgerEntry, message: str, quality: BatchQuality | None = None
) -> LoadResult:
    """Record a batch rejected as a whole: a ledger row (every source row counted as quarantined) and, optionally,
    its data-quality results in the same transaction; no canonical or quarantine rows."""
    result = _result(entry, "rejected", _Counts(0, 0, 0), entry.rows_in, 0, message)
    with engine.begin() as conn:
        _insert_ledger(conn, entry, result)
        _drop_staging(conn, _insert_quality(conn, entry, result.status, quality))
    return result
