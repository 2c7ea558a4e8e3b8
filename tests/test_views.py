"""Every oversight view returns the expected numbers on a small hand-built data set, on DuckDB and PostgreSQL.

Dates that decide "overdue" are relative to today (the views use CURRENT_DATE); occurred dates are fixed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.marts_builders import action, incident, insert, learning_response, link, patient, seed_organisations, view
from warehouse.marts import refresh
from warehouse.views import VIEWS

D = dt.date
TODAY = dt.date.today()


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@pytest.fixture
def oversight(migrated_engine: Engine) -> Engine:
    seed_organisations(migrated_engine)
    i1 = incident("RAJ", "i1", D(2026, 1, 5), reported=D(2026, 1, 6), harm="5")
    i2 = incident("RAJ", "i2", D(2026, 1, 20), reported=D(2026, 2, 25), harm="3", doc=True)
    i3 = incident("RAJ", "i3", D(2026, 2, 3), reported=D(2026, 2, 3), harm="1", never=True, category="medication",
                  never_type="7")
    risk = incident("RAJ", "i4", D(2026, 2, 10), event="risk")
    gone = incident("RAJ", "i5", D(2026, 1, 11), harm="2", deleted=True)
    j1 = incident("R1L", "j1", D(2026, 1, 7), reported=D(2026, 1, 10), harm="4", psych="2", doc=False)
    j2 = incident("R1L", "j2", D(2026, 1, 8), harm="5")
    opted_out = incident("R1L", "j3", D(2026, 1, 9), reported=D(2026, 1, 9), harm="5", opt_out=True)
    insert(migrated_engine, "incident", [i1, i2, i3, risk, gone, j1, j2, opted_out])
    insert(migrated_engine, "incident_patient", [
        patient(i2, 1, harm="3", ethnicity="A", gender="2", bracket="9", age=30),
        patient(i2, 2, harm="5"),
        patient(j1, 1, harm="4", ethnicity="N", gender="2", bracket="12", age=90),
        patient(gone, 1, harm="2", ethnicity="A", gender="1", bracket="9"),
    ])
    lr1 = learning_response("RAJ", "lr1", kind="psii", status="completed", commissioned=D(2026, 2, 5),
                            due=D(2026, 8, 5), completed=D(2026, 5, 6))
    lr2 = learning_response("RAJ", "lr2", kind="aar", commissioned=days(-60), due=days(-10))
    lr3 = learning_response("R1L", "lr3", kind="swarm", commissioned=days(-5), due=days(10))
    lr4 = learning_response("RAJ", "lr4", kind="aar", status="cancelled", commissioned=days(-90), due=days(-30))
    insert(migrated_engine, "learning_response", [lr1, lr2, lr3, lr4])
    insert(migrated_engine, "learning_response_incident", [link(lr1, i3), link(lr1, i2)])
    insert(migrated_engine, "safety_action", [
        action("RAJ", "a1", due=days(-5), system_wide=True, incident_key=i2["incident_key"]),
        action("RAJ", "a2", due=days(-5), revised=days(20)),
        action("RAJ", "a3", status="completed", due=days(-40), completed=days(-45)),
        action("RAJ", "a4", status="completed", due=days(-40), completed=days(-35)),
        action("R1L", "a5", status="cancelled", due=days(-100)),
        action("R1L", "a6", due=None, system_wide=True),
        action("R1L", "a7", due=days(-3), deleted=True),
    ])
    refresh(migrated_engine)
    return migrated_engine


def _pick(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in keys) for r in rows]


def test_incidents_per_provider_month_by_worst_harm(oversight: Engine) -> None:
    got = view(oversight, "vw_incidents_by_provider_month_harm",
               "provider_ods, occurred_month, physical_harm_code, data_sharing_opt_out")
    assert _pick(got, "provider_ods", "occurred_month", "physical_harm_code", "is_moderate_or_worse",
                 "data_sharing_opt_out", "incidents") == [
        ("R1L", "2026-01", "4", False, False, 1), ("R1L", "2026-01", "5", False, False, 1),
        ("R1L", "2026-01", "5", False, True, 1),  # counted, but flagged: shared outputs leave it out
        ("RAJ", "2026-01", "3", True, False, 1), ("RAJ", "2026-01", "5", False, False, 1),
        ("RAJ", "2026-02", "1", True, False, 1),  # the risk record and the deleted incident are not counted
    ]
    assert {r["icb_code"] for r in got} == {"QH8"}
    assert got[0]["provider_name"] == "ESSEX PARTNERSHIP UNIVERSITY NHS FOUNDATION TRUST"


def test_moderate_or_worse_harm_with_duty_of_candour(oversight: Engine) -> None:
    got = view(oversight, "vw_moderate_harm_duty_of_candour", "occurred_date")
    assert _pick(got, "provider_ods", "occurred_month", "physical_harm", "psychological_harm",
                 "duty_of_candour_status", "days_to_notification") == [
        ("R1L", "2026-01", "Low physical harm", "Moderate psychological harm", "not applicable", None),
        ("RAJ", "2026-01", "Moderate physical harm", "Unknown / not recorded", "applies", None),
        ("RAJ", "2026-02", "Fatal", "Unknown / not recorded", "not recorded", None),
    ]


def test_never_events_and_their_investigation(oversight: Engine) -> None:
    got = view(oversight, "vw_never_events")
    assert _pick(got, "provider_ods", "occurred_date", "category", "never_event_type_code", "learning_responses",
                 "has_psii") == [("RAJ", D(2026, 2, 3), "Medication", "7", 1, True)]


def test_learning_responses_time_to_completion_and_overdue(oversight: Engine) -> None:
    got = view(oversight, "vw_learning_responses", "commissioned_date")
    by_type = {(r["provider_ods"], r["response_type_code"], r["status"]): r for r in got}
    assert len(got) == 4
    psii = by_type[("RAJ", "psii", "completed")]
    assert (psii["days_to_completion"], psii["incidents_covered"], psii["first_occurred_date"],
            psii["first_occurred_month"], psii["is_overdue"]) == (90, 2, D(2026, 1, 20), "2026-01", False)
    overdue = by_type[("RAJ", "aar", "open")]
    assert (overdue["is_overdue"], overdue["days_overdue"], overdue["incidents_covered"]) == (True, 10, 0)
    assert by_type[("RAJ", "aar", "cancelled")]["is_overdue"] is False
    assert by_type[("R1L", "swarm", "open")]["is_overdue"] is False

    summary = view(oversight, "vw_learning_response_summary", "provider_ods, response_type_code")
    assert _pick(summary, "provider_ods", "response_type_code", "responses", "open", "completed", "overdue",
                 "median_days_to_completion") == [
        ("R1L", "swarm", 1, 1, 0, 0, None), ("RAJ", "aar", 2, 1, 0, 1, None), ("RAJ", "psii", 1, 0, 1, 0, 90.0)]


def test_safety_actions_per_provider_and_system_wide(oversight: Engine) -> None:
    got = view(oversight, "vw_safety_actions_by_provider")
    assert _pick(got, "provider_ods", "actions", "open", "overdue", "completed", "completed_on_time", "cancelled",
                 "system_wide", "system_wide_overdue") == [("R1L", 2, 1, 0, 0, 0, 1, 1, 0),
                                                           ("RAJ", 4, 2, 1, 2, 1, 0, 1, 1)]
    wide = view(oversight, "vw_system_wide_actions", "provider_ods")
    assert _pick(wide, "provider_ods", "status", "is_overdue", "days_overdue", "incident_occurred_date") == [
        ("R1L", "open", False, None, None), ("RAJ", "open", True, 5, D(2026, 1, 20))]


def test_harm_by_ethnicity_age_band_sex_and_deprivation(oversight: Engine) -> None:
    got = view(oversight, "vw_harm_inequalities", "provider_ods, ethnicity_code")
    assert _pick(got, "provider_ods", "ethnic_group", "age_band", "sex", "imd_decile", "physical_harm_code",
                 "patients") == [
        ("R1L", "Black", "85+", "Female", None, "4", 1),
        ("RAJ", "White", "26-45", "Female", None, "3", 1),
        ("RAJ", "Unknown", "Unknown", "Unknown / not recorded", None, "5", 1),
    ]


def test_reporting_timeliness_per_provider(oversight: Engine) -> None:
    got = view(oversight, "vw_reporting_timeliness", "provider_ods, occurred_month, data_sharing_opt_out")
    assert _pick(got, "provider_ods", "occurred_month", "incidents", "with_reported_date", "median_days_to_report",
                 "within_2_days", "within_7_days", "within_30_days", "after_30_days") == [
        ("R1L", "2026-01", 2, 1, 3.0, 0, 1, 1, 0),
        ("R1L", "2026-01", 1, 1, 0.0, 1, 1, 1, 0),  # the opted-out incident, on its own row
        ("RAJ", "2026-01", 2, 2, 18.5, 1, 1, 1, 1),
        ("RAJ", "2026-02", 1, 1, 0.0, 1, 1, 1, 0),
    ]


def test_views_have_the_documented_columns_and_are_not_tables(migrated_engine: Engine) -> None:
    inspector = sa.inspect(migrated_engine)
    assert not {v.name for v in VIEWS} & set(inspector.get_table_names())
    assert {v.name for v in VIEWS} <= set(inspector.get_view_names())
    with migrated_engine.connect() as conn:
        for v in VIEWS:
            keys = list(conn.execute(sa.text(f"SELECT * FROM {v.name} WHERE 1 = 0")).keys())
            assert keys == [c[0] for c in v.columns], v.name
