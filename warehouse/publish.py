"""A read-only copy of the DuckDB warehouse's marts for BI tools and the DuckDB CLI: ``var/published/warehouse.duckdb``.

Why a copy: DuckDB lets one process at a time open a file for writing, and a reader holding the warehouse file
(even read-only) would lock out the nightly load. So after every marts build the analyst-facing schemas
(``marts``, ``oversight``, ``reference``) are copied into a new file, as tables, which then replaces the published
one in a single rename. A reader that has the old copy open keeps reading it; the next connection sees the new one.
Views are copied as tables of their rows, so "as at today" figures in the copy are as at the build.

The copy is written in DuckDB storage version v1.4.0, which DuckDB 1.4 and 1.5 clients (CLI, Python, DBeaver's
driver, ODBC) open; the warehouse file itself is in the engine's newest storage version, which they refuse.
Canonical tables (free text, pseudonyms) are never copied. PostgreSQL needs none of this: analysts connect to it
with their own logins (``psirf access --login``).
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from psirf import settings
from warehouse.db import is_duckdb, make_engine

__all__ = ["PUBLISHED_SCHEMAS", "STORAGE_VERSION", "publish_duckdb", "published_path"]

PUBLISHED_SCHEMAS = ("marts", "oversight", "reference")
STORAGE_VERSION = "v1.4.0"


def published_path() -> Path:
    return settings.psirf_home() / "published" / "warehouse.duckdb"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish_duckdb(url: str | None = None, target: Path | None = None) -> dict[str, object]:
    """Copy the analyst-facing schemas into ``target`` (default :func:`published_path`), replacing it atomically."""
    target = target or published_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    for leftover in (staging, staging.with_name(staging.name + ".wal")):
        leftover.unlink(missing_ok=True)
    engine = make_engine(url)
    copied: list[str] = []
    try:
        if not is_duckdb(engine):
            raise ValueError("only a DuckDB warehouse is published as a file")
        with engine.begin() as conn:
            relations = conn.execute(sa.text(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database() AND table_schema IN :schemas ORDER BY 1, 2"
            ).bindparams(sa.bindparam("schemas", expanding=True)), {"schemas": list(PUBLISHED_SCHEMAS)}).all()
            path = str(staging).replace("'", "''")
            conn.exec_driver_sql(f"ATTACH '{path}' AS psirf_published (STORAGE_VERSION '{STORAGE_VERSION}')")
            try:
                for schema in sorted({s for s, _ in relations}):
                    conn.exec_driver_sql(f"CREATE SCHEMA psirf_published.{_quote(schema)}")
                for schema, name in relations:
                    relation = f"{_quote(schema)}.{_quote(name)}"
                    conn.exec_driver_sql(f"CREATE TABLE psirf_published.{relation} AS SELECT * FROM {relation}")
                    copied.append(f"{schema}.{name}")
            finally:
                conn.exec_driver_sql("DETACH psirf_published")
    finally:
        engine.dispose()
    os.replace(staging, target)
    return {"published": str(target), "relations": len(copied), "storage_version": STORAGE_VERSION}
