"""Alembic environment for the warehouse: the same migrations run on DuckDB and PostgreSQL.

Where the database comes from, first match wins:

1. ``config.attributes["connection"]``: a live connection (``warehouse.migrate`` passes one when given an engine);
2. ``config.attributes["url"]``: what ``warehouse.migrate.upgrade(url)`` passes;
3. ``sqlalchemy.url`` in ``alembic.ini`` (empty by default, so the CLI follows the environment);
4. :func:`psirf.settings.warehouse_url` (``$PSIRF_WAREHOUSE_URL``, else DuckDB under ``var/``).
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from alembic.ddl.impl import DefaultImpl
from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.engine import Connection

from psirf import settings
from warehouse.db import make_engine
from warehouse.models import Base


class AlembicDuckDBImpl(DefaultImpl):
    """Alembic has no DuckDB support of its own; registering this impl under the dialect name is enough for the
    plain DDL the migrations use.

    DuckDB runs DDL inside transactions, so a failed upgrade leaves nothing half-done. It also has a single string
    type, so TEXT and VARCHAR are synonyms: without that, every Text column would compare as changed.
    """

    __dialect__ = "duckdb"
    transactional_ddl = True
    type_synonyms = ({"NUMERIC", "DECIMAL"}, {"VARCHAR", "TEXT"})

    def correct_for_autogen_constraints(
        self,
        conn_unique_constraints: set[UniqueConstraint],
        conn_indexes: set[Index],
        metadata_unique_constraints: set[UniqueConstraint],
        metadata_indexes: set[Index],
    ) -> None:
        """DuckDB discards constraint names (it keeps its own), so match unique constraints by their columns:
        otherwise every named unique constraint would compare as missing."""

        def columns(constraint: UniqueConstraint) -> tuple[str, ...]:
            return tuple(column.name for column in constraint.columns)

        in_both = {columns(c) for c in conn_unique_constraints} & {columns(c) for c in metadata_unique_constraints}
        for constraints in (conn_unique_constraints, metadata_unique_constraints):
            constraints.difference_update([c for c in constraints if columns(c) in in_both])


config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return str(config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or settings.warehouse_url())


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: print the DDL instead of running it."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
