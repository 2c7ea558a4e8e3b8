"""Access on PostgreSQL: a provider role sees and writes only its own rows (forced RLS, also through views);
the analyst role sees every provider but no free text. DuckDB refuses access control rather than pretend."""

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
    refresh(migrated_engine)
    prefix = f"psirf_t{uuid.uuid4().hex[:8]}_"  # roles are cluster-wide: never reuse a real prefix in a test
    roles = roles_for(PROVIDERS, prefix)
    try:
        apply_access(migrated_engine, PROVIDERS, prefix)
        apply_access(migrated_engine, PROVIDERS, prefix)  # idempotent
        yield migrated_engine, roles
    finally:
        drop_access(migrated_engine, PROVIDERS, prefix)


def _as(engine: Engine, role: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with engine.begin() as conn:
        conn.exec_driver_sql(f'SET LOCAL ROLE "{role}"')
        result = conn.execute(sa.text(sql), params or {})
        return [tuple(r) for r in result] if result.returns_rows else []


@ON_POSTGRES
def test_a_provider_role_sees_only_its_own_rows(secured: tuple[Engine, Roles]) -> None:
    engine, roles = secured
    raj = roles.providers["RAJ"]
    for query in ("SELECT DISTINCT provider_ods FROM incident", "SELECT DISTINCT provider_ods FROM fct_incident",
                  "SELECT DISTINCT provider_ods FROM vw_incidents_by_provider_month_harm"):
        assert _as(engine, raj, query) == [("RAJ",)], query
    assert _as(engine, raj, "SELECT COUNT(*) FROM fct_incident") == [(2,)]
    assert _as(engine, raj, "SELECT COUNT(*) FROM safety_action") == [(0,)]
    assert _as(engine, roles.providers["R1L"], "SELECT COUNT(*) FROM vw_safety_actions_by_provider") == [(1,)]


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
    assert _as(engine, roles.analyst, "SELECT DISTINCT provider_ods FROM fct_incident ORDER BY 1") == [("R1L",),
                                                                                                    ("RAJ",)]
    assert _as(engine, roles.analyst, "SELECT COUNT(*) FROM vw_incidents_by_provider_month_harm") == [(2,)]
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
            "WHERE c.relkind = 'r' AND i.table_schema = current_schema()")).all()
    assert {"incident", "fct_incident", "fct_incident_patient", "bridge_learning_response_incident"} <= {
        f[0] for f in flags}
    assert all(f[1] and f[2] for f in flags), [f for f in flags if not (f[1] and f[2])]


@ON_POSTGRES
def test_the_loader_role_reads_and_writes_every_provider(secured: tuple[Engine, Roles]) -> None:
    engine, roles = secured
    _as(engine, roles.loader, "UPDATE incident SET never_event = true WHERE provider_ods = 'R1L'")
    assert _as(engine, roles.loader, "SELECT provider_ods, COUNT(*) FROM incident GROUP BY 1 ORDER BY 1") == [
        ("R1L", 1), ("RAJ", 2)]


@ON_DUCKDB
def test_duckdb_refuses_access_control(migrated_engine: Engine) -> None:
    assert is_duckdb(migrated_engine)
    with pytest.raises(AccessError, match="PostgreSQL"):
        apply_access(migrated_engine, PROVIDERS, "psirf_x_")
