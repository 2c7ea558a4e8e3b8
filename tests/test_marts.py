"""The star schema refresh: no fact row lost, portable keys, incremental changes and deletions, SCD2 organisations."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.marts_builders import (
    incident,
    insert,
    learning_response,
    link,
    now,
    patient,
    rows,
    scalar,
    seed_organisations,
)
from transforms.keys import natural_key
from warehouse.marts import UNKNOWN_KEY, refresh

D = dt.date
NO_LOOKBACK = dt.timedelta(0)


def test_every_incident_reaches_the_facts_with_unknown_members(migrated_engine: Engine) -> None:
    seed_organisations(migrated_engine)
    known = incident("RAJ", "1", D(2026, 1, 5), harm="3", category="medication", location="Inpatient  ward")
    odd = incident("RXX", "2", D(2026, 1, 6), harm="9", category="not-a-category")  # unknown provider and codes
    insert(migrated_engine, "incident", [known, odd])

    refresh(migrated_engine)

    joined = scalar(migrated_engine, """
        SELECT COUNT(*) FROM fct_incident f
        JOIN dim_organisation o ON o.organisation_key = f.organisation_key
        JOIN dim_date d ON d.date_key = f.occurred_date_key JOIN dim_date r ON r.date_key = f.reported_date_key
        JOIN dim_event_type e ON e.event_type_key = f.event_type_key
        JOIN dim_incident_category c ON c.category_key = f.category_key
        JOIN dim_physical_harm ph ON ph.physical_harm_key = f.physical_harm_key
        JOIN dim_psychological_harm ps ON ps.psychological_harm_key = f.psychological_harm_key
        JOIN dim_service_area sa ON sa.service_area_key = f.service_area_key
        JOIN dim_location_type l ON l.location_type_key = f.location_type_key""")
    assert joined == 2
    odd_row = rows(migrated_engine, "SELECT organisation_key, physical_harm_key, category_key, reported_date_key "
                                    "FROM fct_incident WHERE provider_ods = 'RXX'")
    assert odd_row == [(UNKNOWN_KEY, UNKNOWN_KEY, UNKNOWN_KEY, 0)]
    known_row = rows(migrated_engine, "SELECT ph.label, c.code, l.location_type FROM fct_incident f "
                                      "JOIN dim_physical_harm ph ON ph.physical_harm_key = f.physical_harm_key "
                                      "JOIN dim_incident_category c ON c.category_key = f.category_key "
                                      "JOIN dim_location_type l ON l.location_type_key = f.location_type_key "
                                      "WHERE f.provider_ods = 'RAJ'")
    assert known_row == [("Moderate physical harm", "medication", "Inpatient ward")]


def test_label_keys_are_computed_in_sql_exactly_as_in_python(migrated_engine: Engine) -> None:
    insert(migrated_engine, "incident", [
        incident("RAJ", "1", D(2026, 1, 5), division="Surgery", specialty="General  Surgery "),
        incident("RAJ", "2", D(2026, 1, 6), division="surgery", specialty="general surgery"),
        incident("R1L", "3", D(2026, 1, 7), specialty="Adult Mental Health"),
    ])

    refresh(migrated_engine)

    areas = set(rows(migrated_engine, "SELECT service_area_key, division, specialty FROM dim_service_area"))
    assert areas == {
        (natural_key("service_area", "surgery", "general surgery"), "Surgery", "General Surgery"),
        (natural_key("service_area", None, "adult mental health"), None, "Adult Mental Health"),
        (UNKNOWN_KEY, None, None),
    }
    assert scalar(migrated_engine, "SELECT COUNT(DISTINCT service_area_key) FROM fct_incident") == 2


def test_refresh_is_incremental_and_follows_updates_and_deletions(migrated_engine: Engine) -> None:
    seed_organisations(migrated_engine)
    a = incident("RAJ", "a", D(2026, 1, 5), harm="5")
    b = incident("RAJ", "b", D(2026, 1, 6), harm="4")
    c = incident("R1L", "c", D(2026, 1, 7), harm="5")
    insert(migrated_engine, "incident", [a, b, c])
    insert(migrated_engine, "incident_patient", [patient(a, 1), patient(a, 2), patient(b, 1)])
    first = refresh(migrated_engine, lookback=NO_LOOKBACK)
    assert first["rows_read"]["incident"] == 3 and first["rows_read"]["incident_patient"] == 3

    assert refresh(migrated_engine, lookback=NO_LOOKBACK)["rows_read"] == {
        "incident": 0, "incident_patient": 0, "safety_action": 0, "learning_response": 0}

    with migrated_engine.begin() as conn:  # a's harm worsens, b is deleted upstream, a loses its second patient
        stamp = {"t": now()}
        conn.execute(sa.text("UPDATE incident SET physical_harm_code = '2', updated_at = :t "
                             "WHERE source_record_id = 'a'"), stamp)
        conn.execute(sa.text("UPDATE incident SET is_deleted = true, updated_at = :t WHERE source_record_id = 'b'"),
                     stamp)
        conn.execute(sa.text("DELETE FROM incident_patient WHERE source_record_id = 'a' AND patient_sequence = 2"))
    insert(migrated_engine, "incident", [incident("RAJ", "d", D(2026, 2, 1))])

    second = refresh(migrated_engine, lookback=NO_LOOKBACK)

    assert second["rows_read"]["incident"] == 2  # a (updated) and d (new); b left, c untouched
    facts = rows(migrated_engine, "SELECT i.source_record_id, ph.code FROM fct_incident f "
                                  "JOIN incident i ON i.incident_key = f.incident_key "
                                  "JOIN dim_physical_harm ph ON ph.physical_harm_key = f.physical_harm_key ORDER BY 1")
    assert facts == [("a", "2"), ("c", "5"), ("d", "5")]
    assert rows(migrated_engine, "SELECT incident_key FROM fct_incident_patient") == [(a["incident_key"],)]


def test_full_refresh_gives_the_same_marts(migrated_engine: Engine) -> None:
    seed_organisations(migrated_engine)
    a = incident("RAJ", "a", D(2026, 1, 5), harm="3", specialty="Cardiology")
    insert(migrated_engine, "incident", [a, incident("R1L", "b", D(2026, 3, 1), reported=D(2026, 3, 4))])
    insert(migrated_engine, "incident_patient", [patient(a, 1, ethnicity="A", gender="2", bracket="9")])
    refresh(migrated_engine)
    query = ("SELECT f.*, p.incident_patient_key, p.ethnicity_key FROM fct_incident f "
             "LEFT JOIN fct_incident_patient p ON p.incident_key = f.incident_key ORDER BY f.incident_key")
    before = [r[:-3] + r[-2:] for r in rows(migrated_engine, query)]  # all but refreshed_at

    assert refresh(migrated_engine, full=True)["full"] is True
    after = [r[:-3] + r[-2:] for r in rows(migrated_engine, query)]
    assert after == before
    days = (D(2026, 3, 4) - D(2026, 1, 5)).days + 1  # continuous from the first to the last date used
    assert scalar(migrated_engine, "SELECT COUNT(*) FROM dim_date WHERE date_key > 0") == days


def test_organisation_changes_are_versioned_and_facts_follow_their_date(migrated_engine: Engine) -> None:
    seed_organisations(migrated_engine)
    insert(migrated_engine, "incident", [incident("RAJ", "jan", D(2026, 1, 15)),
                                         incident("RAJ", "apr", D(2026, 4, 10))])
    refresh(migrated_engine, as_of=D(2026, 2, 1))
    with migrated_engine.begin() as conn:
        conn.execute(sa.text("UPDATE organisation SET icb_code = 'QXX', name = 'RENAMED TRUST' WHERE ods_code = 'RAJ'"))

    result = refresh(migrated_engine, as_of=D(2026, 3, 1))

    assert result["organisations_versioned"] == ["RAJ"]
    versions = rows(migrated_engine, "SELECT icb_code, valid_from, valid_to, is_current FROM dim_organisation "
                                     "WHERE ods_code = 'RAJ' ORDER BY valid_from")
    assert versions == [("QH8", D(1900, 1, 1), D(2026, 3, 1), False), ("QXX", D(2026, 3, 1), None, True)]
    by_month = rows(migrated_engine, "SELECT occurred_month, icb_code, provider_name "
                                     "FROM vw_incidents_by_provider_month_harm ORDER BY 1")
    assert by_month == [("2026-01", "QH8", "RENAMED TRUST"), ("2026-04", "QXX", "RENAMED TRUST")]


def test_learning_responses_and_their_incidents_follow_the_canonical_tables(migrated_engine: Engine) -> None:
    i1, i2 = incident("RAJ", "1", D(2026, 1, 5)), incident("RAJ", "2", D(2026, 1, 9))
    lr = learning_response("RAJ", "lr1", kind="psii", commissioned=D(2026, 1, 10), completed=D(2026, 3, 1),
                           status="completed")
    other = learning_response("RAJ", "lr2", kind="aar", commissioned=D(2026, 1, 12))
    insert(migrated_engine, "incident", [i1, i2])
    insert(migrated_engine, "learning_response", [lr, other])
    insert(migrated_engine, "learning_response_incident", [link(lr, i1), link(lr, i2), link(other, i2)])
    refresh(migrated_engine)
    assert scalar(migrated_engine, "SELECT COUNT(*) FROM bridge_learning_response_incident") == 3
    assert scalar(migrated_engine, "SELECT days_to_completion FROM fct_learning_response "
                                   "WHERE learning_response_key = :k", k=lr["learning_response_key"]) == 50

    with migrated_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM learning_response_incident WHERE incident_key = :i AND "
                             "learning_response_key = :l"), {"i": i1["incident_key"], "l": lr["learning_response_key"]})
        conn.execute(sa.text("UPDATE learning_response SET is_deleted = true, updated_at = :t WHERE source_record_id = "
                             "'lr2'"), {"t": now()})
    refresh(migrated_engine)

    assert rows(migrated_engine, "SELECT learning_response_key, incident_key FROM bridge_learning_response_incident") \
        == [(lr["learning_response_key"], i2["incident_key"])]
    assert scalar(migrated_engine, "SELECT COUNT(*) FROM fct_learning_response") == 1
