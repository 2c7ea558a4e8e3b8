"""The warehouse suites find orphan safety actions, patients without their incident and Never Events without a
learning response (from the marts' coverage: a provider that sends no learning responses is not flagged).

Hand-built rows on DuckDB and PostgreSQL; only the provider asked about is checked.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from expectations.warehouse_suites import check_provider
from warehouse.marts import refresh
from warehouse.models import Base

NOW = dt.datetime(2026, 11, 1)


def _row(table: str, **values):
    """A row with every NOT NULL column filled with a plain default, overridden by ``values``."""
    row = {}
    for column in Base.metadata.tables[table].columns:
        if column.nullable or column.name in values:
            continue
        kind = column.type
        row[column.name] = (NOW if isinstance(kind, sa.DateTime) else NOW.date() if isinstance(kind, sa.Date)
                            else False if isinstance(kind, sa.Boolean) else 0 if isinstance(kind, sa.Integer)
                            else "x")
    return row | values


def test_orphans_and_never_events_without_a_response_are_found(migrated_engine):
    incidents = [_row("incident", incident_key=f"i{n}", provider_ods=ods, source_record_id=f"{ods}{n}",
                      never_event=never, event_type_code="incident", physical_harm_code="3", record_origin="local")
                 for n, ods, never in
                 [(1, "RAJ", True), (2, "RAJ", True), (3, "RAJ", False), (4, "RQW", True)]]
    actions = [_row("safety_action", safety_action_key=f"a{n}", provider_ods=ods, source_record_id=str(n),
                    incident_key=incident) for n, ods, incident in
               [(1, "RAJ", "i1"), (2, "RAJ", "missing"), (3, "RAJ", None), (4, "RQW", "gone")]]
    response = _row("learning_response", learning_response_key="r1", provider_ods="RAJ", source_record_id="r1",
                    response_type_code="psii")
    link = {"learning_response_key": "r1", "incident_key": "i1", "provider_ods": "RAJ", "batch_id": "b"}
    patient = _row("incident_patient", incident_patient_key="p1", incident_key="nowhere", provider_ods="RAJ",
                   source_record_id="x", patient_sequence=1)
    with migrated_engine.begin() as conn:
        for table, rows in (("incident", incidents), ("safety_action", actions), ("learning_response", [response]),
                            ("learning_response_incident", [link]), ("incident_patient", [patient])):
            conn.execute(sa.insert(Base.metadata.tables[table]), rows)
        # RAJ's feeds include learning responses; RQW's do not.
        conn.execute(sa.insert(Base.metadata.tables["batch_ledger"]), [
            _row("batch_ledger", batch_id=f"b{ods}", provider_ods=ods, entity=entity, status="loaded",
                 checksum=ods * 20) for ods, entity in (("RAJ", "learning_responses"), ("RQW", "incidents"))])
    refresh(migrated_engine, tests=False)

    results = check_provider(migrated_engine, "RAJ", keep=False)
    got = {(r.suite, r.rule_id, r.field): (r.rows_evaluated, r.rows_failed) for r in results.itertuples()}
    elsewhere = check_provider(migrated_engine, "RQW", keep=False)
    rqw = {(r.suite, r.rule_id, r.field): (r.rows_evaluated, r.rows_failed) for r in elsewhere.itertuples()}

    assert got[("warehouse.incident", "never_event.no_response", "never_event")] == (2, 1)  # i2 has no response
    assert got[("warehouse.safety_action", "warehouse.orphan_action", "incident_key")] == (2, 1)  # a2 only
    assert got[("warehouse.incident_patient", "warehouse.reference_unresolved", "incident_key")] == (1, 1)
    # RQW sends no learning responses: its Never Event is "not supplied", not evaluated.
    assert rqw[("warehouse.incident", "never_event.no_response", "never_event")] == (0, 0)
    assert rqw[("warehouse.safety_action", "warehouse.orphan_action", "incident_key")] == (1, 1)
