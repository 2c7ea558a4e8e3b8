"""Who may see what, on PostgreSQL: roles, grants and forced row-level security (``psirf access``), and logins.

Roles (NOLOGIN group roles; people and services log in as their own users, made members by
:func:`create_login`, ``psirf access --login NAME --role analyst|provider|loader``):

- ``<prefix>loader``: reads and writes every table (the nightly load and the dbt build run as it);
- ``<prefix>analyst``: ICB analysts. Every provider's rows, but no free text and no patient pseudonym: on the
  canonical tables, column grants leave out every TEXT column (descriptions, actions taken, lessons,
  effectiveness measures, quarantine details) and :data:`RESTRICTED_COLUMNS`; the dbt models (schemas
  ``staging``, ``marts``, ``oversight``, ``reference``) hold none of them, so they are granted whole;
- ``<prefix>provider_<ods>``: one per provider in the registry, SELECT on everything, but on every table with a
  ``provider_ods`` column only its own rows, by a row-level security policy that also checks any row it writes
  (``WITH CHECK``), should it ever be granted INSERT or UPDATE.

Row-level security is enabled and FORCED on every table with a ``provider_ods`` column, canonical tables and dbt
models alike, so even a table's owner is filtered unless a policy lets it through (superusers and BYPASSRLS roles
always bypass RLS: do not run loads or reports as one). dbt's views are ``security_invoker`` (a post-hook in the
dbt project), so the same policies apply through them.

A dbt build recreates its table models, and a recreated table has no grants and no policies: until they are
applied again, nobody but its owner reads it (fail closed). :func:`apply_access` is idempotent and is rerun after
every dbt build (``psirf marts`` and the DAG's ``publish_marts`` task, when the roles exist), after every migration
and when providers join. Roles are cluster-wide in PostgreSQL, hence the configurable prefix
(``PSIRF_ROLE_PREFIX``, default ``psirf_``): two warehouses (or a test) on one server use different prefixes.
DuckDB has no roles or row-level security: a DuckDB warehouse is a single-user development database (analysts
read its published copy, :mod:`warehouse.publish`), and :func:`apply_access` refuses it rather than pretend.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from psycopg import sql as psycopg_sql
from sqlalchemy.engine import Connection, Engine

from psirf.errors import PsirfError
from warehouse.db import is_duckdb
from warehouse.models import Base

__all__ = ["DBT_SCHEMAS", "RESTRICTED_COLUMNS", "AccessError", "Roles", "access_configured", "apply_access",
           "create_login", "drop_access", "free_text_columns", "role_prefix", "roles_for"]

DBT_SCHEMAS = ("staging", "marts", "oversight", "reference")
"""Schemas of the dbt project's models, snapshot and seeds."""

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


@dataclass(frozen=True)
class _Relation:
    schema: str
    name: str
    is_view: bool
    has_provider: bool

    def quoted(self, conn: Connection) -> str:
        return f"{_q(conn, self.schema)}.{_q(conn, self.name)}"


def _dbt_relations(conn: Connection) -> list[_Relation]:
    rows = conn.execute(sa.text(
        "SELECT t.table_schema, t.table_name, t.table_type = 'VIEW', "
        "EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = t.table_schema "
        "AND c.table_name = t.table_name AND c.column_name = 'provider_ods') "
        "FROM information_schema.tables t WHERE t.table_schema IN :schemas ORDER BY 1, 2"
    ).bindparams(sa.bindparam("schemas", expanding=True)), {"schemas": list(DBT_SCHEMAS)}).all()
    return [_Relation(s, n, bool(v), bool(p)) for s, n, v, p in rows]


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
        readers = ", ".join(filter(None, [analyst, provider_roles]))
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
                _row_security(conn, name, table.name, "", roles)
        relations = _dbt_relations(conn)
        for schema in sorted({r.schema for r in relations}):
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {_q(conn, schema)} TO {readers}")
            conn.exec_driver_sql(f"GRANT USAGE, CREATE ON SCHEMA {_q(conn, schema)} TO {loader}")
        views = []
        for relation in relations:
            name = relation.quoted(conn)
            conn.exec_driver_sql(f"GRANT SELECT ON {name} TO {readers}")
            conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {loader}")
            if relation.is_view:
                # dbt's post-hook sets this on every view it builds; set here too, so no view ever bypasses RLS.
                conn.exec_driver_sql(f"ALTER VIEW {name} SET (security_invoker = true)")
                views.append(f"{relation.schema}.{relation.name}")
            elif relation.has_provider:
                protected.append(f"{relation.schema}.{relation.name}")
                _row_security(conn, name, relation.name, relation.schema, roles)
    return {"roles": roles.all(), "row_security": protected, "views": views}


def access_configured(engine: Engine, prefix: str | None = None) -> bool:
    """Whether ``psirf access`` has created this prefix's roles here (then every build re-applies access)."""
    if is_duckdb(engine):
        return False
    loader = f"{role_prefix() if prefix is None else prefix}loader"
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": loader}).first() is not None


_LOGIN = re.compile(r"[a-z_][a-z0-9_]{0,62}")
LOGIN_KINDS = ("analyst", "provider", "loader")


def create_login(engine: Engine, login: str, kind: str, password: str, *, provider: str | None = None,
                 prefix: str | None = None) -> dict[str, Any]:
    """Create (or re-password) a person's or service's login and make it a member of one group role.

    ``kind`` is analyst, provider (with ``provider``: its ODS code) or loader. The password is sent once, in the
    CREATE/ALTER ROLE statement (PostgreSQL stores its SCRAM hash); it is never printed or logged by this code.
    """
    _require_postgres(engine)
    if not _LOGIN.fullmatch(login) or login.startswith("pg_"):
        raise AccessError(f"login name {login!r}: use lower-case letters, digits and underscores (max 63), "
                          "not starting with pg_")
    if kind not in LOGIN_KINDS:
        raise AccessError(f"--role {kind!r}: expected one of {', '.join(LOGIN_KINDS)}")
    if (kind == "provider") != (provider is not None):
        raise AccessError("--provider ODS is needed with --role provider, and only with it")
    if len(password) < 12:
        raise AccessError("the password must be at least 12 characters")
    roles = roles_for([provider] if provider else [], prefix)
    group = {"analyst": roles.analyst, "loader": roles.loader}.get(kind) or next(iter(roles.providers.values()))
    if login.startswith(roles.prefix):
        raise AccessError(f"login name {login!r} must not start with the role prefix {roles.prefix!r}")
    with engine.begin() as conn:
        have = {r for (r,) in conn.execute(sa.text("SELECT rolname FROM pg_roles WHERE rolname IN (:g, :l)"),
                                           {"g": group, "l": login})}
        if group not in have:
            raise AccessError(f"role {group} does not exist: run `psirf access` first")
        # DDL takes no bind parameters: the password goes in as a literal quoted by the driver.
        quoted = psycopg_sql.Literal(password).as_string(conn.connection.dbapi_connection)  # type: ignore[arg-type]
        verb = "ALTER" if login in have else "CREATE"
        conn.exec_driver_sql(f"{verb} ROLE {_q(conn, login)} LOGIN INHERIT PASSWORD {quoted}")
        conn.exec_driver_sql(f"GRANT {_q(conn, group)} TO {_q(conn, login)}")
    return {"login": login, "role": group, "created": verb == "CREATE"}


def _row_security(conn: Connection, name: str, table: str, schema: str, roles: Roles) -> None:
    """Enable and force RLS on the table ``name`` (quoted, schema-qualified) and replace this prefix's policies."""
    conn.exec_driver_sql(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
    conn.exec_driver_sql(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
    stale = conn.execute(sa.text("SELECT policyname FROM pg_policies WHERE schemaname = COALESCE(NULLIF(:s, ''), "
                                 "current_schema()) AND tablename = :t AND policyname LIKE :p"),
                         {"s": schema, "t": table, "p": f"{roles.prefix}%"})
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
