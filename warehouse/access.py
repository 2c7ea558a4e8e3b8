"""Who may see what, on PostgreSQL: roles, column grants and forced row-level security (``psirf access``).

Roles (NOLOGIN group roles; people and services log in as their own users and are granted membership):

- ``<prefix>loader``: reads and writes every table (the nightly load and the marts refresh run as it);
- ``<prefix>analyst``: ICB analysts. Every provider's rows, but no free text and no patient pseudonym: column
  grants leave out every TEXT column (descriptions, actions taken, lessons, effectiveness measures, quarantine
  details) and :data:`RESTRICTED_COLUMNS`. The star schema and the oversight views hold none of them anyway;
- ``<prefix>provider_<ods>``: one per provider in the registry, SELECT on everything, but on every table with a
  ``provider_ods`` column only its own rows, by a row-level security policy that also checks any row it writes
  (``WITH CHECK``), should it ever be granted INSERT or UPDATE.

Row-level security is enabled and FORCED on every table with a ``provider_ods`` column, so even the tables'
owner is filtered unless a policy lets it through (superusers and BYPASSRLS roles always bypass RLS: do not run
loads or reports as one). Views are ``security_invoker`` (see :mod:`warehouse.views`), so the same policies
apply through them.

Roles are cluster-wide in PostgreSQL, hence the configurable prefix (``PSIRF_ROLE_PREFIX``, default ``psirf_``):
two warehouses (or a test) on one server use different prefixes. :func:`apply_access` is idempotent; rerun it
after every migration (new tables and views need their grants) and when providers join. DuckDB has no roles or
row-level security: a DuckDB warehouse is a single-user development database, and :func:`apply_access` refuses
it rather than pretend.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from psirf.errors import PsirfError
from warehouse.db import is_duckdb
from warehouse.models import Base
from warehouse.views import VIEWS

__all__ = ["RESTRICTED_COLUMNS", "AccessError", "Roles", "apply_access", "drop_access", "free_text_columns",
           "role_prefix", "roles_for"]

RESTRICTED_COLUMNS = frozenset({"patient_pseudo_id", "owner_role", "location_exact_source", "local_reference"})
"""Not free-text typed, but withheld from analysts: the patient pseudonym, and short text fields that may name
a person or a place."""

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_ODS = re.compile(r"[A-Z0-9]{3,10}")


class AccessError(PsirfError):
    """Access control cannot be applied (wrong engine, bad prefix or ODS code)."""


def role_prefix() -> str:
    return os.environ.get("PSIRF_ROLE_PREFIX", "psirf_")


@dataclass(frozen=True)
class Roles:
    prefix: str
    loader: str
    analyst: str
    providers: dict[str, str] = field(default_factory=dict)
    """ODS code → role name."""

    def all(self) -> list[str]:
        return [self.loader, self.analyst, *self.providers.values()]


def roles_for(providers: Iterable[str], prefix: str | None = None) -> Roles:
    prefix = role_prefix() if prefix is None else prefix
    if not _NAME.fullmatch(prefix):
        raise AccessError(f"role prefix {prefix!r} must be lower-case letters, digits and underscores")
    codes = sorted({p.strip().upper() for p in providers})
    bad = [c for c in codes if not _ODS.fullmatch(c)]
    if bad:
        raise AccessError(f"not ODS codes: {bad}")
    return Roles(prefix, f"{prefix}loader", f"{prefix}analyst", {c: f"{prefix}provider_{c.lower()}" for c in codes})


def free_text_columns(table: sa.Table) -> set[str]:
    """Columns analysts may not read: TEXT columns and :data:`RESTRICTED_COLUMNS`."""
    return {c.name for c in table.columns if isinstance(c.type, sa.Text) or c.name in RESTRICTED_COLUMNS}


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _existing_tables(conn: Connection) -> list[sa.Table]:
    present = set(sa.inspect(conn).get_table_names())
    return [t for name, t in Base.metadata.tables.items() if name in present]


def _require_postgres(bind: Engine | Connection) -> None:
    if is_duckdb(bind):
        raise AccessError("access control needs PostgreSQL: a DuckDB warehouse is a single-user development "
                          "database with no roles or row-level security")


def apply_access(engine: Engine, providers: Iterable[str], prefix: str | None = None) -> dict[str, Any]:
    """Create the roles if missing and (re)apply grants and forced row-level security, in one transaction."""
    _require_postgres(engine)
    roles = roles_for(providers, prefix)
    with engine.begin() as conn:
        existing = {r for (r,) in conn.execute(sa.text("SELECT rolname FROM pg_roles WHERE rolname LIKE :p"),
                                               {"p": f"{roles.prefix}%"})}
        for role in roles.all():
            if role not in existing:
                conn.exec_driver_sql(f"CREATE ROLE {_q(conn, role)} NOLOGIN")
        loader, analyst = _q(conn, roles.loader), _q(conn, roles.analyst)
        provider_roles = ", ".join(_q(conn, r) for r in roles.providers.values())
        protected: list[str] = []
        for table in _existing_tables(conn):
            name = _q(conn, table.name)
            conn.exec_driver_sql(f"REVOKE ALL ON {name} FROM {analyst}")
            conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {loader}")
            hidden = free_text_columns(table)
            columns = ", ".join(_q(conn, c.name) for c in table.columns if c.name not in hidden)
            conn.exec_driver_sql(f"GRANT SELECT ({columns}) ON {name} TO {analyst}")
            if provider_roles:
                conn.exec_driver_sql(f"GRANT SELECT ON {name} TO {provider_roles}")
            if "provider_ods" in table.columns:
                protected.append(table.name)
                _row_security(conn, table.name, roles)
        for view in VIEWS:
            grantees = ", ".join(filter(None, [analyst, provider_roles]))
            conn.exec_driver_sql(f"GRANT SELECT ON {_q(conn, view.name)} TO {grantees}")
    return {"roles": roles.all(), "row_security": protected, "views": [v.name for v in VIEWS]}


def _row_security(conn: Connection, table: str, roles: Roles) -> None:
    """Enable and force RLS on ``table`` and replace this prefix's policies on it."""
    name = _q(conn, table)
    conn.exec_driver_sql(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
    conn.exec_driver_sql(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
    stale = conn.execute(sa.text("SELECT policyname FROM pg_policies WHERE schemaname = current_schema() "
                                 "AND tablename = :t AND policyname LIKE :p"), {"t": table, "p": f"{roles.prefix}%"})
    for (policy,) in stale.all():
        conn.exec_driver_sql(f"DROP POLICY {_q(conn, policy)} ON {name}")
    conn.exec_driver_sql(f"CREATE POLICY {_q(conn, roles.loader + '_all')} ON {name} FOR ALL "
                         f"TO {_q(conn, roles.loader)} USING (true) WITH CHECK (true)")
    conn.exec_driver_sql(f"CREATE POLICY {_q(conn, roles.analyst + '_read')} ON {name} FOR SELECT "
                         f"TO {_q(conn, roles.analyst)} USING (true)")
    for ods, role in roles.providers.items():  # ods is checked against _ODS: safe as a literal
        conn.exec_driver_sql(f"CREATE POLICY {_q(conn, role + '_own')} ON {name} FOR ALL TO {_q(conn, role)} "
                             f"USING (provider_ods = '{ods}') WITH CHECK (provider_ods = '{ods}')")


def drop_access(engine: Engine, providers: Iterable[str], prefix: str | None = None) -> list[str]:
    """Remove this prefix's roles: their grants and policies in this database, then the roles themselves.

    A role that still holds privileges in another database cannot be dropped; PostgreSQL then says which.
    """
    _require_postgres(engine)
    roles = roles_for(providers, prefix)
    with engine.begin() as conn:
        existing = [r for (r,) in conn.execute(sa.text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"),
                                               {"names": roles.all()})]
        for role in existing:
            conn.exec_driver_sql(f"DROP OWNED BY {_q(conn, role)}")
            conn.exec_driver_sql(f"DROP ROLE {_q(conn, role)}")
    return existing
