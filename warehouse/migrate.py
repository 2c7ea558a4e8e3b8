"""Schema migrations, run programmatically: the CLI, Airflow and the tests all upgrade through here.

Alembic is configured in code rather than from ``alembic.ini`` so a caller needs nothing but a URL, and so that
running a migration never reconfigures the application's logging. ``warehouse/alembic.ini`` exists only for
people running the ``alembic`` command by hand (e.g. ``alembic -c warehouse/alembic.ini revision -m ...``).

Every function here goes through ``migrations/env.py``, so they all see the same target metadata, comparison
options and DuckDB support.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Engine

from psirf import settings

__all__ = ["MIGRATIONS_DIR", "current", "downgrade", "head", "schema_diffs", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

Target = str | URL | Engine | None
"""A URL (default :func:`psirf.settings.warehouse_url`), or an engine to reuse (it is not disposed)."""


@contextmanager
def _config(target: Target) -> Iterator[Config]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if isinstance(target, Engine):
        with target.connect() as connection:
            config.attributes["connection"] = connection
            yield config
            connection.commit()
    else:
        url = target if target is not None else settings.warehouse_url()
        config.attributes["url"] = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        yield config


def upgrade(url: Target = None, revision: str = "head") -> None:
    """Upgrade the warehouse to ``revision``; a no-op when it is already there."""
    with _config(url) as config:
        command.upgrade(config, revision)


def downgrade(url: Target, revision: str) -> None:
    """Downgrade to ``revision`` (``"base"`` drops every warehouse table). Deliberately has no default URL."""
    with _config(url) as config:
        command.downgrade(config, revision)


def head() -> str:
    """The newest revision in ``migrations/versions``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    revision = ScriptDirectory.from_config(config).get_current_head()
    assert revision is not None
    return revision


def _inspect(url: Target, fn: Callable[[MigrationContext], Any]) -> Any:
    """Run ``fn`` inside ``env.py``'s migration context without migrating anything (as ``alembic check`` does)."""
    results: list[Any] = []

    def collect(_revision: Any, context: MigrationContext) -> list[Any]:
        results.append(fn(context))
        return []  # no migration steps to run

    with _config(url) as config:
        script = ScriptDirectory.from_config(config)
        with EnvironmentContext(config, script, fn=collect):
            script.run_env()
    return results[0]


def current(url: Target = None) -> str | None:
    """The warehouse's revision, or None when it has never been migrated."""
    revision: str | None = _inspect(url, lambda context: context.get_current_revision())
    return revision


def schema_diffs(url: Target = None) -> list[Any]:
    """Differences between the live schema and ``warehouse.models`` (Alembic's autogenerate comparison).

    Empty when the migrations and the models agree; anything else means a migration is missing or wrong.
    """
    diffs: list[Any] = _inspect(url, lambda context: compare_metadata(context, context.opts["target_metadata"]))
    return diffs
