"""Read-side questions about the ledger: what has been loaded, what happened recently, how big the tables are."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warehouse.models import CANONICAL_TABLES, Base

__all__ = ["held_versions", "loaded_checksums", "provider_totals", "recent_batches", "table_counts", "watermark"]

_ledger = Base.metadata.tables["batch_ledger"]


def loaded_checksums(engine: Engine, provider_ods: str, entity: str) -> set[str]:
    """Checksums of the files already loaded for this provider and entity, so an unchanged file can be skipped.

    Rejected batches are left out on purpose: a file rejected earlier (say, under a stricter threshold) must be
    allowed to load once the problem is fixed.
    """
    query = sa.select(_ledger.c.checksum).where(
        _ledger.c.provider_ods == provider_ods, _ledger.c.entity == entity, _ledger.c.status == "loaded"
    )
    with engine.connect() as conn:
        return set(conn.scalars(query))


def recent_batches(engine: Engine, limit: int = 50, provider_ods: str | None = None) -> list[dict[str, Any]]:
    """The newest ledger rows first (by start time), optionally for one provider."""
    query = sa.select(_ledger).order_by(_ledger.c.started_at.desc(), _ledger.c.batch_id.desc()).limit(limit)
    if provider_ods is not None:
        query = query.where(_ledger.c.provider_ods == provider_ods)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows per table, keyed by table name: the canonical tables, ``batch_ledger`` and ``quarantine``."""
    tables = [cast(sa.Table, table) for table in CANONICAL_TABLES.values()]
    tables += [_ledger, Base.metadata.tables["quarantine"]]
    query = sa.select(*(sa.select(sa.func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables))
    with engine.connect() as conn:
        row = conn.execute(query).one()
    return {t.name: int(row[i]) for i, t in enumerate(tables)}


def provider_totals(engine: Engine) -> list[dict[str, Any]]:
    """Per provider: batches loaded and rejected, and the sums of the ledger's row counts."""
    c = _ledger.c
    query = (
        sa.select(
            c.provider_ods,
            sa.func.count().label("batches"),
            sa.func.sum(sa.case((c.status == "rejected", 1), else_=0)).label("rejected"),
            *(sa.func.sum(col).label(col.name) for col in (c.rows_in, c.loaded, c.quarantined, c.duplicates)),
            sa.func.max(c.finished_at).label("last_load"),
        )
        .group_by(c.provider_ods)
        .order_by(c.provider_ods)
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def watermark(engine: Engine, provider_ods: str, entity: str) -> dt.datetime | None:
    """The newest cursor value committed for an incremental source, or None before its first load."""
    table = Base.metadata.tables["source_watermark"]
    query = sa.select(table.c.cursor_value).where(table.c.provider_ods == provider_ods, table.c.entity == entity)
    with engine.connect() as conn:
        return conn.scalar(query)


_ENTITY_TABLES = {"incidents": "incident", "safety_actions": "safety_action", "learning_responses": "learning_response"}


def held_versions(engine: Engine, provider_ods: str, entity: str, source_record_ids: list[str]) -> dict[
        str, dt.datetime | None]:
    """For the given source ids, the ``source_updated_at`` the warehouse holds (ids it does not hold are absent)."""
    if not source_record_ids:
        return {}
    table = Base.metadata.tables[_ENTITY_TABLES[entity]]
    query = sa.select(table.c.source_record_id, table.c.source_updated_at).where(
        table.c.provider_ods == provider_ods, table.c.source_record_id.in_(sorted(set(source_record_ids))))
    with engine.connect() as conn:
        return {row[0]: row[1] for row in conn.execute(query)}
