"""Access on PostgreSQL: a provider role sees and writes only its own rows (forced RLS, in the canonical tables and in
every dbt model and view); the analyst role sees every provider but no free text; a login made with
`psirf access --login` connects with psql in its role. DuckDB refuses access control rather than pretend."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.marts_builders import action, incident, insert
from warehouse.access import AccessError, Roles, apply_access, drop_access, roles_for
from warehouse.db import is_duckdb
from warehouse.marts import refresh

PROVIDERS = ["RAJ", "R1L"]
ON_POSTGRES = pytest.mark.parametrize("warehouse_url", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                                      indirect=True)
ON_DUCKDB = pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)


@pytest.fixture
def secured(migrated_engine: Engine) -> Iterator[tuple[Engine, Roles]]:
    insert(migrated_engine, "incident", [incident("RAJ", "1", dt.date(2026, 1, 5)),
                                         incident("RAJ", "2", dt.date(2026, 1, 6)),
                                         incident("R1L", "3", dt.date(2026, 1, 7))])
    insert(migrated_engine, "safety_action", [action("R1L", "a1")])
    refresh(migrated_engine, tests=False)
    prefix = f"psirf_t{uuid.uuid4().hex[:8]}_"  # roles are cluster-wide: never reuse a real prefix in a test
    roles = roles_for(PROVIDERS, prefix)
    try:
        apply_access(migrated_engine, PROVIDERS, prefix)
        apply_access(migrated_engine, PROVIDERS, prefix)  # idempotent
        yield migrated_engine, roles
    finally:
        drop_access(migrated_engine, PROVIDERS, prefix)


def _provider_relations(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(
            "SELECT DISTINCT table_schema || '.' || table_name FROM information_schema.columns "
            "WHERE column_name = 'provider_ods' AND table_schema IN ('staging', 'marts', 'oversight') ORDER BY 1"))]


def _as(engine: Engine, role: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with engine.begin() as conn:
        conn.exec_driver_sql(f'SET LOCAL ROLE "{role}"')
        result = conn.execute(sa.text(sql), params or {})
        return [tuple(r) for r in result] if result.returns_rows else []


@ON_POSTGRES
def test_a_provider_role_sees_only_its_own_rows(secured: tuple[Engine, Roles]) -> None:
    engine, roles = secured
    raj = roles.providers["RAJ"]
    relations = _provider_relations(engine)
    assert {"marts.fct_incident", "oversight.oversight_provider_measures", "oversight.oversight_duty_of_candour",
            "staging.stg_canonical__incidents"} <= set(relations)
    for relation in ["incident", *relations]:  # every table, model and view that has provider rows
        assert set(_as(engine, raj, f"SELECT DISTINCT provider_ods FROM {relation}")) <= {("RAJ",)}, relation
    assert _as(engine, raj, "SELECT COUNT(*) FROM marts.fct_incident") == [(2,)]
    assert _as(engine, raj, "SELECT COUNT(*) FROM safety_action") == [(0,)]
    assert _as(engine, roles.providers["R1L"], "SELECT COUNT(*) FROM oversight.oversight_safety_actions") == [(1,)]


@ON_POSTGRES
def test_a_provider_role_cannot_write_another_providers_row(secured: tuple[Engine, Roles]) -> None:
    engine, roles = secured
    raj = roles.providers["RAJ"]
    row = incident("R1L", "forged", dt.date(2026, 2, 1))
    columns = ", ".join(row)
    values = ", ".join(f":{c}" for c in row)
    insert_sql = f"INSERT INTO incident ({columns}) VALUES ({values})"
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _as(engine, raj, insert_sql, row)

    # Even if someone grants it INSERT, the policy's WITH CHECK still refuses other providers' rows.
    with engine.begin() as conn:
        conn.exec_driver_sql(f'GRANT INSERT ON incident TO "{raj}"')
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        _as(engine, raj, insert_sql, row)
    own = incident("RAJ", "own", dt.date(2026, 2, 1))
    _as(engine, raj, insert_sql, own)
    assert _as(engine, raj, "SELECT COUNT(*) FROM incident") == [(3,)]


@ON_POSTGRES
def test_the_analyst_role_sees_all_providers_but_no_free_text(secured: tuple[Engine, Roles]) -> None:
    engine, roles = secured
    assert _as(engine, roles.analyst, "SELECT DISTINCT provider_ods FROM marts.fct_incident ORDER BY 1") == [
        ("R1L",), ("RAJ",)]
    assert _as(engine, roles.analyst, "SELECT COUNT(*) FROM oversight.oversight_incidents_by_harm") == [(2,)]
    assert _as(engine, roles.analyst, "SELECT COUNT(incident_key) FROM incident") == [(3,)]
    for column, table in (("description", "incident"), ("lessons_learned", "incident"),
                          ("action_taken", "incident"), ("effectiveness_measure", "safety_action"),
                          ("description", "safety_action"), ("patient_pseudo_id", "incident_patient"),
                          ("local_reference", "incident"), ("location_exact_source", "incident")):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            _as(engine, roles.analyst, f"SELECT {column} FROM {table}")


@ON_POSTGRES
def test_row_security_is_forced_on_every_provider_table(secured: tuple[Engine, Roles]) -> None:
    engine, _ = secured
    with engine.connect() as conn:
        flags = conn.execute(sa.text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
            "JOIN information_schema.columns i ON i.table_name = c.relname AND i.column_name = 'provider_ods' "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.table_schema "
            "WHERE c.relkind = 'r' AND i.table_schema IN (current_schema(), 'marts', 'oversight')")).all()
    assert {"incident", "fct_incident", "fct_incident_patient", "bridge_learning_response_incident",
            "oversight_provider_measures"} <= {f[0] for f in flags}
    assert all(f[1] and f[2] for f in flags), [f for f in flags if not (f[1] and f[2])]


@ON_POSTGRES
def test_the_loader_role_reads_and_writes_every_provider(secured: tuple[Engine, Roles]) -> None:
    engine, roles = secured
    _as(engine, roles.loader, "UPDATE incident SET never_event = true WHERE provider_ods = 'R1L'")
    assert _as(engine, roles.loader, "SELECT provider_ods, COUNT(*) FROM incident GROUP BY 1 ORDER BY 1") == [
        ("R1L", 1), ("RAJ", 2)]


@ON_POSTGRES
def test_views_run_as_the_querying_role(secured: tuple[Engine, Roles]) -> None:
    engine, _ = secured
    with engine.connect() as conn:
        views = conn.execute(sa.text(
            "SELECT n.nspname || '.' || c.relname, c.reloptions FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'v' "
            "AND n.nspname IN ('staging', 'oversight')")).all()
    assert len(views) > 10
    assert all(v[1] and "security_invoker=true" in v[1] for v in views), [v for v in views if not v[1]]


@ON_POSTGRES
def test_a_login_made_by_the_cli_connects_with_psql_in_its_role(secured: tuple[Engine, Roles],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    import subprocess

    from typer.testing import CliRunner

    from psirf.cli import app

    engine, roles = secured
    url = engine.url
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("PSIRF_LOGIN_PASSWORD", "a long test password 42")
    people = roles.prefix.replace("psirf_", "login_")  # cluster-wide names, unique to this test
    logins = {"analyst": f"{people}ana", "provider": f"{people}raj_lead"}
    try:
        made = CliRunner().invoke(app, ["access", "--prefix", roles.prefix, "--login", logins["analyst"],
                                        "--role", "analyst"])
        assert made.exit_code == 0, made.output
        assert "a long test password" not in made.output
        made = CliRunner().invoke(app, ["access", "--prefix", roles.prefix, "--login", logins["provider"],
                                        "--role", "provider", "--provider", "RAJ"])
        assert made.exit_code == 0, made.output

        psql = shutil.which("psql")
        assert psql is not None

        def query(login: str, sql: str) -> str:
            run = subprocess.run([psql, "-h", str(url.host), "-p", str(url.port), "-U", login, "-d",
                                  str(url.database), "-Atc", sql], capture_output=True, text=True, timeout=60,
                                 env={"PGPASSWORD": "a long test password 42", "PATH": "/usr/bin:/bin"})
            return run.stdout.strip() if run.returncode == 0 else "ERROR: " + run.stderr.strip()

        assert query(logins["analyst"], "SELECT COUNT(DISTINCT provider_ods) FROM marts.fct_incident") == "2"
        assert query(logins["analyst"], "SELECT description FROM incident").startswith("ERROR")
        assert query(logins["provider"], "SELECT string_agg(DISTINCT provider_ods, ',') FROM marts.fct_incident") \
            == "RAJ"
        assert query(logins["provider"], "SELECT COUNT(*) FROM oversight.oversight_incidents_by_harm "
                                         "WHERE provider_ods = 'R1L'") == "0"
    finally:
        with engine.begin() as conn:
            for login in logins.values():
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{login}"')


@ON_DUCKDB
def test_duckdb_refuses_access_control(migrated_engine: Engine) -> None:
    assert is_duckdb(migrated_engine)
    with pytest.raises(AccessError, match="PostgreSQL"):
        apply_access(migrated_engine, PROVIDERS, "psirf_x_")
