"""Engines for the warehouse: one factory, so DuckDB and PostgreSQL are set up the same way everywhere.

DuckDB needs one repair. ``duckdb-engine`` reflects through the PostgreSQL dialect's ``pg_catalog`` queries, and
with SQLAlchemy 2.1 those fail on DuckDB (no ``pg_collation``, no ``REGCLASS``), so neither ``inspect(engine)``
nor Alembic's autogenerate comparison works. :func:`make_engine` therefore gives DuckDB engines a small
reflection layer over DuckDB's own catalog functions (``duckdb_columns()``, ``duckdb_constraints()``,
``duckdb_indexes()``, ``duckdb_tables()``). It is installed on the engine's dialect instance only, never on the
dialect class, so engines made elsewhere are untouched.

What DuckDB cannot report, the layer reports as absent rather than invent: DuckDB keeps no names for primary
key, unique and check constraints (it generates its own) and no VARCHAR lengths (it ignores them), so those come
back unnamed and unsized.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.engine.default import DefaultDialect

from psirf import settings

__all__ = ["is_duckdb", "make_engine"]


def make_engine(url: str | URL | None = None) -> Engine:
    """An engine on ``url`` (default :func:`psirf.settings.warehouse_url`).

    For a DuckDB file the parent folder is created, since DuckDB creates the file but not its folder.
    """
    sa_url = make_url(url if url is not None else settings.warehouse_url())
    if sa_url.get_backend_name() == "duckdb":
        release_dbt_duckdb()
        database = sa_url.database or ""
        if database and database != ":memory:" and ":" not in database.split("/", 1)[0]:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(sa_url, connect_args={"config": duckdb_settings()})
        _install_duckdb_reflection(engine.dialect)
        return engine
    return sa.create_engine(sa_url, pool_pre_ping=True)


def release_dbt_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open for the life of a process that ran dbt in-process (the CLI's
    marts build, or astronomer-cosmos tasks in one Airflow process): DuckDB refuses a second connection to a file
    from the same process with other settings. A no-op where dbt never ran."""
    import sys

    module = sys.modules.get("dbt.adapters.duckdb.connections")
    if module is None:
        return
    manager = module.DuckDBConnectionManager
    environment = manager._ENV
    manager.close_all_connections()
    if environment is not None:
        environment.close()


def duckdb_settings() -> dict[str, str]:
    """DuckDB settings for the warehouse file, from the environment.

    * ``PSIRF_DUCKDB_MEMORY_LIMIT`` (default ``1536MB``): DuckDB's buffer pool, which otherwise may take 80% of the
      machine's memory; joins and sorts beyond it spill to a temporary folder next to the file, but the primary-key
      indexes must fit (about 70 bytes a key: roughly 600 MB for a five-year, 1M-incident warehouse and its marts).
    * ``PSIRF_DUCKDB_CHECKPOINT_THRESHOLD`` (default ``128MB``): how much write-ahead log builds up before DuckDB
      folds it into the file. Every commit is durable in the log either way; with DuckDB's default (16 MB) each
      batch of a backfill paid a checkpoint of the tables it touched at commit.
    """
    return {"memory_limit": os.environ.get("PSIRF_DUCKDB_MEMORY_LIMIT", "1536MB"),
            "checkpoint_threshold": os.environ.get("PSIRF_DUCKDB_CHECKPOINT_THRESHOLD", "128MB")}


def is_duckdb(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "duckdb"


# --- DuckDB reflection over DuckDB's own catalog ------------------------------------------------------------

_DUCKDB_TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    "VARCHAR": sa.VARCHAR,
    "BOOLEAN": sa.BOOLEAN,
    "TINYINT": sa.SMALLINT,
    "SMALLINT": sa.SMALLINT,
    "INTEGER": sa.INTEGER,
    "BIGINT": sa.BIGINT,
    "HUGEINT": sa.NUMERIC,
    "FLOAT": sa.REAL,
    "DOUBLE": sa.DOUBLE_PRECISION,
    "DATE": sa.DATE,
    "TIME": sa.TIME,
    "TIMESTAMP": sa.TIMESTAMP,
    "TIMESTAMP WITH TIME ZONE": lambda: sa.TIMESTAMP(timezone=True),
    "BLOB": sa.LargeBinary,
    "UUID": sa.Uuid,
    "JSON": sa.JSON,
}


def _duckdb_type(data_type: str) -> sa.types.TypeEngine[Any]:
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", data_type)
    if decimal:
        return sa.NUMERIC(int(decimal.group(1)), int(decimal.group(2)))
    factory = _DUCKDB_TYPES.get(data_type)
    return factory() if factory else sa.types.NullType()


_SCOPE = "database_name = current_database() AND schema_name = COALESCE(:schema, current_schema())"


def _rows(
    connection: Connection, sql: str, table_name: str, schema: str | None, order_by: str = "1"
) -> list[tuple[Any, ...]]:
    """Run ``sql`` (which ends in a WHERE clause) restricted to one table of the current database."""
    query = sa.text(f"{sql} AND {_SCOPE} AND table_name = :table_name ORDER BY {order_by}")
    return [tuple(row) for row in connection.execute(query, {"schema": schema, "table_name": table_name})]


def _require_table(connection: Connection, table_name: str, schema: str | None) -> None:
    if not _rows(connection, "SELECT 1 FROM duckdb_tables() WHERE true", table_name, schema):
        raise sa.exc.NoSuchTableError(table_name)


def _get_columns(
    self: DefaultDialect, connection: Connection, table_name: str, schema: str | None = None, **kw: Any
) -> list[dict[str, Any]]:
    _require_table(connection, table_name, schema)
    rows = _rows(
        connection,
        "SELECT column_name, data_type, is_nullable, column_default, comment FROM duckdb_columns() WHERE true",
        table_name,
        schema,
        order_by="column_index",
    )
    return [
        {
            "name": name,
            "type": _duckdb_type(data_type),
            "nullable": bool(nullable),
            "default": default,
            "autoincrement": False,
            "comment": comment,
        }
        for name, data_type, nullable, default, comment in rows
    ]


def _constraints(connection: Connection, table_name: str, schema: str | None, kind: str) -> list[tuple[Any, ...]]:
    _require_table(connection, table_name, schema)
    return _rows(
        connection,
        f"SELECT constraint_column_names, expression FROM duckdb_constraints() WHERE constraint_type = '{kind}'",
        table_name,
        schema,
        order_by="constraint_index",
    )


def _get_pk_constraint(
    self: DefaultDialect, connection: Connection, table_name: str, schema: str | None = None, **kw: Any
) -> dict[str, Any]:
    rows = _constraints(connection, table_name, schema, "PRIMARY KEY")
    return {"constrained_columns": list(rows[0][0]) if rows else [], "name": None}


def _get_unique_constraints(
    self: DefaultDialect, connection: Connection, table_name: str, schema: str | None = None, **kw: Any
) -> list[dict[str, Any]]:
    return [
        {"name": None, "column_names": list(cols)} for cols, _ in _constraints(connection, table_name, schema, "UNIQUE")
    ]


def _get_check_constraints(
    self: DefaultDialect, connection: Connection, table_name: str, schema: str | None = None, **kw: Any
) -> list[dict[str, Any]]:
    return [{"name": None, "sqltext": expr} for _, expr in _constraints(connection, table_name, schema, "CHECK")]


def _get_foreign_keys(
    self: DefaultDialect, connection: Connection, table_name: str, schema: str | None = None, **kw: Any
) -> list[dict[str, Any]]:
    _require_table(connection, table_name, schema)
    return []  # the warehouse declares no foreign keys: keys are hashed, and loads arrive in any order


def _get_indexes(
    self: DefaultDialect, connection: Connection, table_name: str, schema: str | None = None, **kw: Any
) -> list[dict[str, Any]]:
    _require_table(connection, table_name, schema)
    rows = _rows(
        connection,
        "SELECT index_name, is_unique, expressions FROM duckdb_indexes() WHERE NOT is_primary",
        table_name,
        schema,
    )
    # ``expressions`` is DuckDB's rendering of the indexed columns, e.g. "[incident_key]" or "[a, b]".
    return [
        {
            "name": name,
            "unique": bool(unique),
            "column_names": [_indexed_column(c) for c in expressions.strip("[]").split(",")],
            "dialect_options": {},
        }
        for name, unique, expressions in rows
    ]


_PARTIAL = re.compile(r"CASE\s+WHEN .+ THEN \(?(\w+)\)? ELSE NULL END", re.IGNORECASE)


def _indexed_column(expression: str) -> str:
    """A column name; DuckDB has no partial indexes, so ``(CASE WHEN <condition> THEN col END)`` stands for a
    partial index on ``col`` (see migration 0005) and is reported as that column."""
    text = expression.strip().strip("'").strip('"')
    partial = _PARTIAL.search(text)
    return partial.group(1) if partial else text


def _get_table_comment(
    self: DefaultDialect, connection: Connection, table_name: str, schema: str | None = None, **kw: Any
) -> dict[str, Any]:
    rows = _rows(connection, "SELECT comment FROM duckdb_tables() WHERE true", table_name, schema)
    if not rows:
        raise sa.exc.NoSuchTableError(table_name)
    return {"text": rows[0][0]}


def _get_table_options(
    self: DefaultDialect, connection: Connection, table_name: str, schema: str | None = None, **kw: Any
) -> dict[str, Any]:
    return {}


_SINGLE_TABLE_METHODS: dict[str, Callable[..., Any]] = {
    "columns": _get_columns,
    "pk_constraint": _get_pk_constraint,
    "unique_constraints": _get_unique_constraints,
    "check_constraints": _get_check_constraints,
    "foreign_keys": _get_foreign_keys,
    "indexes": _get_indexes,
    "table_comment": _get_table_comment,
    "table_options": _get_table_options,
}


def _install_duckdb_reflection(dialect: sa.engine.Dialect) -> None:
    """Bind the catalog-based methods to this dialect instance; the ``get_multi_*`` methods become SQLAlchemy's
    generic per-table loop over them (instead of the PostgreSQL bulk queries that DuckDB cannot run)."""
    for what, method in _SINGLE_TABLE_METHODS.items():
        setattr(dialect, f"get_{what}", types.MethodType(method, dialect))
        multi = getattr(DefaultDialect, f"get_multi_{what}")
        setattr(dialect, f"get_multi_{what}", types.MethodType(multi, dialect))
