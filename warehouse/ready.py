"""Is the warehouse there, migrated and free? One place that answers, so every entry point says it the same way.

Three things go wrong before any data moves, and each is the operator's to fix, not a bug:

* **not migrated**: no DuckDB file yet, no ``alembic_version`` table, or an older revision than this code needs.
  :func:`open_warehouse` refuses *before* connecting to a DuckDB file that does not exist, because connecting would
  create an empty one (a later ``psirf init`` then looks like it worked on a fresh file);
* **locked**: DuckDB admits one process at a time to its file; its error names the process holding it;
* **unreachable**: a PostgreSQL server that is down, refuses the login, or has no such database.

:func:`describe` turns the database's exception into one line (URL without the password); the CLI prints it and
exits 2 (:mod:`psirf.cli_errors`), an Airflow task shows it in its log.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from psirf import settings
from psirf.errors import PsirfError
from warehouse.db import make_engine

__all__ = ["WarehouseError", "check_warehouse", "describe", "duckdb_file", "open_warehouse", "safe_url"]

_DUCKDB_LOCK = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


class WarehouseError(PsirfError):
    """The warehouse cannot be used as it is: not migrated, locked by another process, or unreachable."""


def safe_url(url: str | URL) -> str:
    """A URL for display, without any password."""
    return make_url(url).render_as_string(hide_password=True)


def duckdb_file(url: str | URL) -> Path | None:
    """The file of a DuckDB URL (None for PostgreSQL or an in-memory DuckDB)."""
    sa_url = make_url(url)
    database = sa_url.database or ""
    if sa_url.get_backend_name() != "duckdb" or not database or database == ":memory:" or ":" in database:
        return None
    return Path(database).expanduser()


def describe(exc: BaseException, url: str | URL) -> str | None:
    """One line for a database error an operator can act on, or None when it is something else (a bug)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    first = text.splitlines()[0] if text else type(orig).__name__
    shown = safe_url(url)
    lock = _DUCKDB_LOCK.search(text)
    if lock or "Could not set lock on file" in text:
        holder = f"process {lock['pid']} ({lock['program']})" if lock else "another process"
        return (f"the warehouse {duckdb_file(url) or shown} is locked by {holder}: DuckDB lets one process open it "
                f"at a time; wait for that process to finish or stop it")
    if _is_missing_table(orig, text):
        return f"the warehouse at {shown} is not migrated: run `psirf init`"
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or type(orig).__name__ in (
            "OperationalError", "InterfaceError"):
        return f"cannot connect to the warehouse at {shown}: {first}"
    return None


def _is_missing_table(orig: BaseException, text: str) -> bool:
    if type(orig).__name__ in ("UndefinedTable", "CatalogException"):
        return True
    return bool(re.search(r"(relation|Table with name) \S+ does not exist", text))


def check_warehouse(engine: Engine) -> None:
    """Raise :class:`WarehouseError` unless the warehouse answers and is at this code's newest migration."""
    from warehouse.migrate import head

    try:
        with engine.connect() as conn:
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DBAPIError as exc:
        message = describe(exc, engine.url)
        if message is None:
            raise
        raise WarehouseError(message) from None
    expected = head()
    if revision is None:
        raise WarehouseError(f"the warehouse at {safe_url(engine.url)} is not migrated: run `psirf init`")
    if revision != expected:
        raise WarehouseError(f"the warehouse at {safe_url(engine.url)} is at migration {revision}, this version "
                             f"needs {expected}: run `psirf init` to upgrade it")


def open_warehouse(url: str | URL | None = None) -> Engine:
    """An engine on a warehouse that exists, answers and is migrated; raises :class:`WarehouseError` otherwise.

    A DuckDB file that does not exist is refused without connecting (which would create it, empty)."""
    url = url if url is not None else settings.warehouse_url()
    path = duckdb_file(url)
    if path is not None and not path.exists():
        raise WarehouseError(f"there is no warehouse at {path}: run `psirf init` first")
    engine = make_engine(url)
    try:
        check_warehouse(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
