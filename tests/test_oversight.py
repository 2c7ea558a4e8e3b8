"""Every oversight model returns the expected figures on a small hand-built data set, on DuckDB and PostgreSQL.

Dates that decide "overdue" are relative to today (the models read as at current_date); occurred dates are fixed.
One build per engine serves every test here (the data set is read, never changed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.conftest import _pg_database
from tests.marts_builders import action, incident, insert, learning_response, link, patient, seed_organisations, view
from warehouse.db import make_engine
from warehouse.marts import refresh
from warehouse.migrate import upgrade

D = dt.date
TODAY = dt.date.today()


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def _fill(engine: Engine) -> None:
    seed_organisations(engine)
    i1 = incident("RAJ", "i1", D(2026, 1, 5), reported=D(2026, 1, 6), harm="5")
    i2 = incident("RAJ", "i2", D(2026, 1, 20), reported=D(2026, 2, 25), harm="3", doc=True, notified=D(2026, 1, 30),
                  never=False)
    i3 = incident("RAJ", "i3", D(2026, 2, 3), reported=D(2026, 2, 3), harm="1", never=True, category="medication",
                  never_type="7", doc=False)  # "No" on a fatal incident: a finding, not "not applicable"
    risk = incident("RAJ", "i4", D(2026, 2, 10), event="risk")
    gone = incident("RAJ", "i5", D(2026, 1, 11), harm="2", deleted=True)
    j1 = incident("R1L", "j1", D(2026, 1, 7), reported=D(2026, 1, 10), harm="4", psych="2", doc=True)
    j2 = incident("R1L", "j2", D(2026, 1, 8), harm="5")
    opted_out = incident("R1L", "j3", D(2026, 1, 9), reported=D(2026, 1, 9), harm="5", opt_out=True)
    insert(engine, "incident", [i1, i2, i3, risk, gone, j1, j2, opted_out])
    insert(engine, "incident_patient", [
        patient(i2, 1, harm="3", ethnicity="A", gender="2", bracket="9", age=30),
        patient(i2, 2, harm="5"),
        patient(j1, 1, harm="4", psych="2", ethnicity="N", gender="2", bracket="12", age=90),
        patient(gone, 1, harm="2", ethnicity="A", gender="1", bracket="9"),
    ])
    lr1 = learning_response("RAJ", "lr1", kind="psii", status="completed", commissioned=D(2026, 2, 5),
                            due=D(2026, 8, 5), completed=D(2026, 5, 6))
    lr2 = learning_response("RAJ", "lr2", kind="aar", commissioned=days(-60), due=days(-10))
    lr4 = learning_response("RAJ", "lr4", kind="aar", status="cancelled", commissioned=days(-90), due=days(-30))
    insert(engine, "learning_response", [lr1, lr2, lr4])
    insert(engine, "learning_response_incident", [link(lr1, i3), link(lr1, i2)])
    insert(engine, "safety_action", [
        action("RAJ", "a1", due=days(-5), system_wide=True, incident_key=i2["incident_key"]),
        action("RAJ", "a2", due=days(-5), revised=days(20)),
        action("RAJ", "a3", status="completed", due=days(-40), completed=days(-45)),
        action("RAJ", "a4", status="completed", due=days(-40), completed=days(-35)),
        action("R1L", "a5", status="cancelled", due=days(-100)),
        action("R1L", "a6", due=None, system_wide=True),
        action("R1L", "a7", due=days(-3), deleted=True),
    ])
    # Only RAJ sends learning responses: the ledger says which feeds a provider has.
    with engine.begin() as conn:
        for n, (ods, entity) in enumerate([("RAJ", "incidents"), ("RAJ", "learning_responses"), ("R1L", "incidents")]):
            conn.execute(sa.text(
                "INSERT INTO batch_ledger (batch_id, provider_ods, entity, source_system, profile, source_file, "
                "checksum, rows_in, loaded, inserted, updated, unchanged, quarantined, duplicates, status, "
                "started_at, finished_at) VALUES (:b, :p, :e, 's', 'p', 'f', :c, 1, 1, 1, 0, 0, 0, 0, 'loaded', "
                ":t, :t)"), {"b": f"b{n}", "p": ods, "e": entity, "c": f"{n:064d}", "t": dt.datetime(2026, 3, 1)})


@pytest.fixture(scope="module", params=[pytest.param("duckdb", id="duckdb"),
                                        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)])
def oversight(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PSIRF_HOME", str(home))
        databases = (iter([f"duckdb:///{home / 'warehouse.duckdb'}"]) if request.param == "duckdb"
                     else _pg_database())
        url = next(databases)
        engine = make_engine(url)
        try:
            upgrade(engine)
            _fill(engine)
            refresh(engine)  # with every dbt test: they must pass on this data too
            yield engine
        finally:
            engine.dispose()
            for _ in databases:  # PostgreSQL: drop the database
                pass


def _pick(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    """The columns asked for; exact decimals (shares, medians) as floats, as analysts' tools read them."""
    return [tuple(float(r[k]) if isinstance(r[k], Decimal) else r[k] for k in keys) for r in rows]


def test_incidents_per_provider_month_by_worst_harm(oversight: Engine) -> None:
    got = view(oversight, "oversight.oversight_incidents_by_harm",
               "provider_ods, occurred_month, physical_harm_code, data_sharing_opt_out")
    assert _pick(got, "provider_ods", "occurred_month", "physical_harm_code", "moderate_or_worse_incidents",
                 "data_sharing_opt_out", "incidents") == [
        ("R1L", "2026-01", "4", 1, False, 1),  # low physical, moderate psychological: moderate or worse
        ("R1L", "2026-01", "5", 0, False, 1),
        ("R1L", "2026-01", "5", 0, True, 1),  # counted, but flagged: shared outputs leave it out
        ("RAJ", "2026-01", "3", 1, False, 1), ("RAJ", "2026-01", "5", 0, False, 1),
        ("RAJ", "2026-02", "1", 1, False, 1),  # the risk record and the deleted incident are not counted
    ]
    assert {r["icb_code"] for r in got} == {"QH8"}
    assert got[0]["provider_name"] == "ESSEX PARTNERSHIP UNIVERSITY NHS FOUNDATION TRUST"


def test_duty_of_candour_on_moderate_or_worse_harm(oversight: Engine) -> None:
    got = view(oversight, "oversight.oversight_duty_of_candour", "occurred_date")
    assert _pick(got, "provider_ods", "occurred_month", "physical_harm", "psychological_harm",
                 "duty_of_candour_status", "is_finding", "days_to_notification") == [
        ("R1L", "2026-01", "Low physical harm", "Moderate psychological harm", "not_yet_notified", False, None),
        ("RAJ", "2026-01", "Moderate physical harm", "Unknown / not recorded", "notified", False, 10),
        ("RAJ", "2026-02", "Fatal", "Unknown / not recorded", "not_recorded", True, None),  # "No" is a finding
    ]


def test_never_events_and_learning_response_coverage(oversight: Engine) -> None:
    got = view(oversight, "oversight.oversight_never_events")
    assert _pick(got, "provider_ods", "occurred_date", "category", "never_event_type_code", "learning_responses",
                 "has_psii", "learning_response_coverage") == [
        ("RAJ", D(2026, 2, 3), "Medication", "7", 1, True, "supplied")]
    coverage = {r["incident_key"][:0] + r["provider_ods"] + ":" + str(r["occurred_date"]): r
                for r in view(oversight, "oversight.oversight_learning_response_coverage")}
    statuses = sorted((k.split(":")[0], r["never_event_status"], r["learning_response_coverage"])
                      for k, r in coverage.items())
    assert statuses == [
        ("R1L", "not_supplied", "not_supplied"), ("R1L", "not_supplied", "not_supplied"),
        ("R1L", "not_supplied", "not_supplied"),  # R1L sends no learning responses: never "none"
        ("RAJ", "never_event", "supplied"), ("RAJ", "not_never_event", "supplied"),
        ("RAJ", "not_supplied", "none"),  # RAJ sends them; this incident has none
    ]


def test_learning_responses_time_to_completion_and_overdue(oversight: Engine) -> None:
    got = view(oversight, "oversight.oversight_learning_responses", "commissioned_date")
    by_type = {(r["provider_ods"], r["response_type_code"], r["status"]): r for r in got}
    assert len(got) == 3
    psii = by_type[("RAJ", "psii", "completed")]
    assert (psii["days_to_completion"], psii["incidents_covered"], psii["first_occurred_date"],
            psii["is_overdue"]) == (90, 2, D(2026, 1, 20), False)
    overdue = by_type[("RAJ", "aar", "open")]
    assert (overdue["is_overdue"], overdue["days_overdue"], overdue["incidents_covered"]) == (True, 10, 0)
    assert by_type[("RAJ", "aar", "cancelled")]["is_overdue"] is False


def test_safety_actions_overdue_as_at_today(oversight: Engine) -> None:
    got = view(oversight, "oversight.oversight_safety_actions_by_provider")
    assert _pick(got, "provider_ods", "actions", "open", "overdue", "completed", "completed_on_time", "cancelled",
                 "system_wide", "system_wide_overdue") == [("R1L", 2, 1, 0, 0, 0, 1, 1, 0),
                                                           ("RAJ", 4, 2, 1, 2, 1, 0, 1, 1)]
    actions = view(oversight, "oversight.oversight_safety_actions", "provider_ods, due_date")
    assert _pick([a for a in actions if a["is_overdue"]], "provider_ods", "status", "days_overdue",
                 "incident_occurred_date") == [("RAJ", "open", 5, D(2026, 1, 20))]
    # The same definition as at any date, from the fact's overdue interval: a4 was overdue for five days.
    with oversight.connect() as conn:
        late = conn.execute(sa.text(
            "SELECT COUNT(*) FROM marts.fct_safety_action WHERE overdue_from_date <= :d "
            "AND (overdue_to_date IS NULL OR :d < overdue_to_date)"), {"d": days(-37)}).scalar()
    assert late == 1


def test_harm_by_ethnicity_age_band_sex_and_deprivation(oversight: Engine) -> None:
    got = view(oversight, "oversight.oversight_harm_inequalities", "provider_ods, ethnicity_code")
    assert _pick(got, "provider_ods", "ethnic_group", "age_band", "sex", "imd_decile", "physical_harm_code",
                 "patients") == [
        ("R1L", "Black", "85+", "Female", None, "4", 1),
        ("RAJ", "White", "26-45", "Female", None, "3", 1),
        ("RAJ", "Unknown", "Unknown", "Unknown / not recorded", None, "5", 1),
    ]


def test_reporting_timeliness_per_month_and_per_provider(oversight: Engine) -> None:
    got = view(oversight, "oversight.oversight_reporting_timeliness_monthly",
               "provider_ods, occurred_month, data_sharing_opt_out")
    assert _pick(got, "provider_ods", "occurred_month", "incidents", "with_reported_date", "median_days_to_report",
                 "within_2_days", "within_7_days", "within_30_days", "share_within_7_days") == [
        ("R1L", "2026-01", 2, 1, 3.0, 0, 1, 1, 100.0),
        ("R1L", "2026-01", 1, 1, 0.0, 1, 1, 1, 100.0),  # the opted-out incident, on its own row
        ("RAJ", "2026-01", 2, 2, 18.5, 1, 1, 1, 50.0),
        ("RAJ", "2026-02", 1, 1, 0.0, 1, 1, 1, 100.0),
    ]
    # One figure per provider for a 12-month period, which monthly medians cannot give: RAJ reported after 1, 36
    # and 0 days (median 1), R1L after 3 days (the opt-out is left out of shareable figures).
    period = view(oversight, "oversight.oversight_provider_measures WHERE period_end = '2026-02-01'", "provider_ods")
    assert _pick(period, "provider_ods", "incidents", "with_reported_date", "median_days_to_report",
                 "within_7_days", "share_within_7_days", "moderate_or_worse", "candour_not_recorded",
                 "share_candour_recorded", "never_events", "sends_learning_responses") == [
        ("R1L", 2, 1, 3.0, 1, 100.0, 1, 0, 100.0, 0, False),
        ("RAJ", 3, 3, 1.0, 2, 66.7, 2, 1, 50.0, 1, True),
    ]
    system = view(oversight, "oversight.oversight_system_measures WHERE period_end = '2026-02-01'", "period_end")
    assert _pick(system, "incidents", "with_reported_date", "median_days_to_report", "moderate_or_worse",
                 "candour_not_recorded") == [(5, 4, 2.0, 3, 1)]
