"""The dbt marts on both engines: facts follow the canonical tables incrementally (updates, deletions, pruned
patients, event types, learning-response links), organisations are versioned, a full rebuild gives the same
marts, every dbt test passes on good data and fails on a planted defect, and the docs build offline."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.marts_builders import (
    incident,
    insert,
    learning_response,
    link,
    patient,
    rows,
    scalar,
    seed_organisations,
    touch,
)
from transforms.keys import natural_key
from warehouse.dbt_project import FULL_CHECKS, invoke
from warehouse.marts import refresh

D = dt.date
UNKNOWN = natural_key("unknown")
TODAY = dt.date.today()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PSIRF_MARTS_LOOKBACK_SECONDS", "0")  # one process, one clock: no skew margin
    return tmp_path / "home"


def _facts(engine: Engine) -> dict[str, tuple[Any, ...]]:
    found = rows(engine, "SELECT i.source_record_id, ph.code, f.duty_of_candour_status, f.never_event_status, "
                         "f.refreshed_at FROM marts.fct_incident f JOIN incident i ON i.incident_key = f.incident_key "
                         "JOIN marts.dim_physical_harm ph ON ph.physical_harm_key = f.physical_harm_key")
    return {r[0]: r[1:] for r in found}


def test_marts_follow_the_canonical_tables(migrated_engine: Engine, home: Path) -> None:
    engine = migrated_engine
    seed_organisations(engine)
    a = incident("RAJ", "a", D(2026, 1, 5), harm="5", division="Surgery", specialty="General  Surgery ")
    b = incident("RAJ", "b", D(2026, 1, 6), harm="3", doc=False, never=False)  # "No" on moderate harm
    c = incident("R1L", "c", D(2026, 1, 7), harm="2", doc=True, notified=D(2026, 1, 9), never=True,
                 division="surgery", specialty="general surgery", location="Inpatient  ward")
    odd = incident("RXX", "odd", D(2026, 1, 8), harm="9", category="not-a-category")  # unknown provider and codes
    risk = incident("RAJ", "risk", D(2026, 1, 9), event="risk")
    insert(engine, "incident", [a, b, c, odd, risk])
    insert(engine, "incident_patient", [patient(a, 1, harm="5"), patient(a, 2, harm="3"), patient(b, 1, harm="3")])
    lr = learning_response("R1L", "lr", kind="psii", commissioned=D(2026, 1, 10))
    insert(engine, "learning_response", [lr])
    insert(engine, "learning_response_incident", [link(lr, c), link(lr, a)])

    refresh(engine, tests=False)

    first = _facts(engine)
    # Worst harm across patients (a: patient 2 moderate), Duty of Candour and Never Event statuses, one definition.
    assert {k: v[:3] for k, v in first.items()} == {
        "a": ("3", "not_recorded", "not_supplied"), "b": ("3", "not_recorded", "not_never_event"),
        "c": ("2", "notified", "never_event"), "odd": ("unknown", "not_applicable", "not_supplied")}
    assert scalar(engine, "SELECT COUNT(*) FROM marts.fct_other_safety_event") == 1  # the risk is not an incident
    unknown_row = rows(engine, "SELECT organisation_key, category_key, reported_date_key FROM marts.fct_incident f "
                               "WHERE provider_ods = 'RXX'")
    assert unknown_row == [(UNKNOWN, UNKNOWN, 0)]
    areas = set(rows(engine, "SELECT service_area_key, division, specialty FROM marts.dim_service_area"))
    assert (natural_key("service_area", "surgery", "general surgery"), "Surgery", "General Surgery") in areas
    assert scalar(engine, "SELECT COUNT(DISTINCT service_area_key) FROM marts.fct_incident "
                          "WHERE provider_ods IN ('RAJ', 'R1L') AND service_area_key <> :u", u=UNKNOWN) == 1
    assert scalar(engine, "SELECT COUNT(*) FROM marts.bridge_learning_response_incident") == 2

    time.sleep(1.1)  # the second build's stamp must differ from the first's
    with engine.begin() as conn:  # as if the first build ran yesterday (versions are per day)
        conn.execute(sa.text("UPDATE marts.snap_organisations SET dbt_valid_from = dbt_valid_from - INTERVAL '1 day', "
                             "dbt_updated_at = dbt_updated_at - INTERVAL '1 day'"))
    with engine.begin() as conn:  # what later loads do: a worsens, b is deleted, c becomes a risk, a loses patient 2
        stamp = {"t": dt.datetime.now(dt.UTC).replace(tzinfo=None)}
        conn.execute(sa.text("UPDATE incident SET physical_harm_code = '2', updated_at = :t "
                             "WHERE source_record_id = 'a'"), stamp)
        conn.execute(sa.text("UPDATE incident SET is_deleted = true, updated_at = :t WHERE source_record_id = 'b'"),
                     stamp)
        conn.execute(sa.text("UPDATE incident SET event_type_code = 'risk', updated_at = :t "
                             "WHERE source_record_id = 'c'"), stamp)
        conn.execute(sa.text("DELETE FROM incident_patient WHERE source_record_id = 'a' AND patient_sequence = 2"))
        conn.execute(sa.text("UPDATE organisation SET icb_code = 'QXX', name = 'RENAMED TRUST' "
                             "WHERE ods_code = 'RAJ'"))
    insert(engine, "incident", [incident("RAJ", "d", D(2026, 2, 1))])

    refresh(engine, tests=False)

    second = _facts(engine)
    assert set(second) == {"a", "d", "odd"}  # b deleted upstream, c no longer an incident
    assert second["a"][0] == "2" and second["odd"][3] == first["odd"][3]  # odd untouched: not rewritten
    assert second["a"][3] > first["a"][3]
    assert rows(engine, "SELECT patient_sequence FROM marts.fct_incident_patient p JOIN incident_patient c "
                        "ON c.incident_patient_key = p.incident_patient_key") == [(1,)]
    assert scalar(engine, "SELECT COUNT(*) FROM marts.fct_incident_patient") == 1  # b's patient left with b
    assert rows(engine, "SELECT incident_key FROM marts.bridge_learning_response_incident") == [(a["incident_key"],)]
    assert scalar(engine, "SELECT COUNT(*) FROM marts.fct_other_safety_event") == 2
    versions = rows(engine, "SELECT icb_code, valid_from, valid_to, is_current FROM marts.dim_organisation "
                            "WHERE ods_code = 'RAJ' ORDER BY valid_from")
    assert versions == [("QH8", D(1900, 1, 1), TODAY, False), ("QXX", TODAY, None, True)]
    # The January incident stays with the ICB responsible then; its current name comes from the current version.
    by_month = rows(engine, "SELECT occurred_month, icb_code, provider_name FROM oversight.oversight_incidents_by_harm "
                            "WHERE provider_ods = 'RAJ' ORDER BY 1")
    assert by_month == [("2026-01", "QH8", "RENAMED TRUST"), ("2026-02", "QH8", "RENAMED TRUST")]

    query = ("SELECT f.incident_key, f.physical_harm_key, f.duty_of_candour_status, p.incident_patient_key "
             "FROM marts.fct_incident f LEFT JOIN marts.fct_incident_patient p ON p.incident_key = f.incident_key "
             "ORDER BY 1, 4")
    before = rows(engine, query)
    result = refresh(engine, full=True)  # with every dbt test
    assert result["success"] and result["counts"].get("fail", 0) == 0 and result["counts"].get("error", 0) == 0
    assert rows(engine, query) == before

    # A planted defect fails the Duty of Candour test and a relationships test: no test that cannot fail.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE marts.fct_incident SET duty_of_candour_status = 'not_applicable', "
                             "physical_harm_key = 'not-a-key' WHERE is_moderate_or_worse"))
    engine.dispose()
    relationship = "relationships_fct_incident_physical_harm_key__physical_harm_key__ref_dim_physical_harm_"
    # (Planted in the marts, not through a load: rows that did not change, which only a full check reads.)
    checked = invoke(["test", "--select", f"assert_duty_of_candour_status_consistent {relationship}", *FULL_CHECKS],
                     engine.url.render_as_string(hide_password=False))
    assert {n["name"]: n["status"] for n in checked.nodes} == {
        "assert_duty_of_candour_status_consistent": "fail", relationship: "fail"}

    # Nightly, the per-column tests run inside each model's column_checks / relationship_checks: those fail too,
    # naming the per-column test and the column; no per-column test runs on its own (but the snapshot's).
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE marts.fct_incident SET never_event_status = 'perhaps' WHERE provider_ods = 'RXX'"))
        conn.execute(sa.text("INSERT INTO marts.fct_incident SELECT * FROM marts.fct_incident "
                             "WHERE provider_ods = 'RXX'"))
        conn.execute(sa.text("UPDATE marts.fct_learning_response SET provider_ods = NULL"))
    engine.dispose()
    nightly = invoke(["test", *FULL_CHECKS], engine.url.render_as_string(hide_password=False))
    statuses = {n["name"]: n["status"] for n in nightly.nodes}
    messages = {n["name"]: n["message"] for n in nightly.nodes}
    assert not [name for name in statuses if name.startswith(("not_null_", "unique_", "accepted_values_",
                                                               "relationships_")) and "_snap_" not in name]
    assert statuses["column_checks_fct_incident"] == "fail"
    assert "unique_fct_incident_incident_key (incident_key: unique, 1 rows)" in messages["column_checks_fct_incident"]
    assert "accepted_values_fct_incident_never_event_status" in messages["column_checks_fct_incident"]
    assert statuses["relationship_checks_fct_incident"] == "fail"
    assert f"{relationship} (physical_harm_key: relationships," in messages["relationship_checks_fct_incident"]
    assert statuses["column_checks_fct_learning_response"] == "fail"
    assert "not_null_fct_learning_response_provider_ods (provider_ods: not_null, 1 rows)" in messages[
        "column_checks_fct_learning_response"]
    assert statuses["assert_duty_of_candour_status_consistent"] == "fail"
    assert statuses["column_checks_dim_date"] == "pass"  # the other models' checks still pass


def test_nightly_checks_read_the_rows_changed_since_their_last_pass(migrated_engine: Engine, home: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that passed reads, the next night, only the rows changed since (its last pass is recorded); every
    row on demand (checks=full), on a full refresh and once its last full pass is older than
    PSIRF_FULL_CHECKS_EVERY_DAYS. A defect in a changed row is found the same night."""
    engine = migrated_engine
    url = engine.url.render_as_string(hide_password=False)
    seed_organisations(engine)
    insert(engine, "incident", [incident("RAJ", "a", D(2026, 1, 5), harm="3", doc=False),
                                incident("RAJ", "b", D(2026, 1, 6), harm="3", doc=False)])
    refresh(engine)  # the first build: every check reads every row, and passes
    checks = ("column_checks_fct_incident", "assert_duty_of_candour_status_consistent")
    passes = "SELECT check_id, passed_at, full_pass_at FROM staging.psirf_check_passes"
    first = {r[0].split(".")[2]: r[1:] for r in rows(engine, passes)}
    assert all(first[name][0] == first[name][1] for name in checks)  # full passes
    assert "column_checks_dim_date" not in first  # a check with no way to find changed rows reads every row
    # (planted in the marts, not loaded: these rows did not change since the checks passed)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE marts.fct_incident SET never_event_status = 'perhaps', "
                             "duty_of_candour_status = 'not_applicable'"))
    engine.dispose()

    def failing(message: str) -> int:
        return int(message.split("Got ")[1].split(" result")[0])

    def test(*extra: str) -> dict[str, tuple[str, str]]:
        result = invoke(["test", "--select", " ".join(checks), *extra], url)
        return {n["name"]: (n["status"], n["message"]) for n in result.nodes}

    time.sleep(1.1)
    assert {name: status for name, (status, _) in test().items()} == dict.fromkeys(checks, "pass")
    later = {r[0].split(".")[2]: r[1:] for r in rows(engine, passes)}
    engine.dispose()
    assert all(later[name][0] > first[name][0] and later[name][1] == first[name][1] for name in checks)

    # b changes (a load), the facts are rebuilt without their tests, then b's row goes wrong: found that night
    time.sleep(1.1)
    touch(engine, "incident", "source_record_id = 'b'")
    refresh(engine, tests=False)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE marts.fct_incident SET never_event_status = 'perhaps', "
                             "duty_of_candour_status = 'not_applicable'"))
    engine.dispose()
    nightly = test()
    assert {name: status for name, (status, _) in nightly.items()} == dict.fromkeys(checks, "fail")
    assert "never_event_status: accepted_values, 1 rows" in nightly["column_checks_fct_incident"][1]
    per_incident = failing(nightly["assert_duty_of_candour_status_consistent"][1])  # rows: one per rule broken
    assert [r[1:] for r in rows(engine, passes) if r[0].split(".")[2] in checks] == \
        [later[name] for name in sorted(checks)]  # a failure keeps the last pass: the next night reads as much
    engine.dispose()

    found = test(*FULL_CHECKS)  # every row, on demand (psirf marts --full-checks): both rows
    assert "never_event_status: accepted_values, 2 rows" in found["column_checks_fct_incident"][1]
    assert failing(found["assert_duty_of_candour_status_consistent"][1]) == 2 * per_incident
    monkeypatch.setenv("PSIRF_FULL_CHECKS_EVERY_DAYS", "0")  # weekly by default: here, every build
    assert "never_event_status: accepted_values, 2 rows" in test()["column_checks_fct_incident"][1]
    monkeypatch.setenv("PSIRF_FULL_CHECKS_EVERY_DAYS", "weekly")  # not a number: an error naming the setting
    assert "PSIRF_FULL_CHECKS_EVERY_DAYS (dbt var full_checks_every_days) is weekly: expected a number of days" in \
        test()["column_checks_fct_incident"][1]
    monkeypatch.delenv("PSIRF_FULL_CHECKS_EVERY_DAYS")
    rebuilt = refresh(engine, full=True)  # a full refresh rebuilds the rows and checks every one
    assert rebuilt["full_checks"] and rebuilt["counts"].get("fail", 0) == 0
    assert all(r[1] == r[2] > later[r[0].split(".")[2]][0] for r in rows(engine, passes)
               if r[0].split(".")[2] in checks)


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_the_published_copy_opens_in_the_duckdb_cli_while_the_warehouse_is_busy(migrated_engine: Engine,
                                                                                  home: Path) -> None:
    import subprocess
    import sys

    seed_organisations(migrated_engine)
    insert(migrated_engine, "incident", [incident("RAJ", "a", D(2026, 1, 5), harm="3", doc=False)])
    result = refresh(migrated_engine, tests=False)
    published = Path(result["published"])
    assert published == home / "published" / "warehouse.duckdb"
    cli = Path(sys.executable).parent / "duckdb"  # duckdb-cli 1.5 from PyPI: refuses the warehouse's storage version

    with migrated_engine.begin() as conn:  # a load in progress: this process holds the warehouse for writing
        conn.exec_driver_sql("UPDATE incident SET updated_at = updated_at")
        read = subprocess.run([str(cli), "-readonly", "-csv", str(published), "-c",
                               "SELECT provider_ods, duty_of_candour_status FROM marts.fct_incident; "
                               "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'main'"],
                              capture_output=True, text=True, timeout=60)
        direct = subprocess.run([str(cli), "-readonly", str(migrated_engine.url.database), "-c", "SELECT 1"],
                                capture_output=True, text=True, timeout=60)
    assert read.returncode == 0, read.stderr
    assert read.stdout.split() == ["provider_ods,duty_of_candour_status", "RAJ,not_recorded", "count_star()", "0"]
    assert direct.returncode != 0  # the warehouse itself: locked by the load, and in a newer storage version


def test_dbt_docs_build_offline(migrated_engine: Engine, home: Path) -> None:
    from warehouse.dbt_docs import generate_docs

    seed_organisations(migrated_engine)
    refresh(migrated_engine, tests=False)
    migrated_engine.dispose()
    page = generate_docs(migrated_engine.url.render_as_string(hide_password=False))
    text = page.read_text(encoding="utf-8")
    assert page == home / "docs" / "dbt" / "index.html"
    for expected in ("oversight_provider_measures", "Grain: one row per", "int_incident_measures",
                     "assert_duty_of_candour_status_consistent"):
        assert expected in text
    assert '"nodes"' in text  # manifest and catalog embedded (dbt docs generate --static)


def test_the_load_lock_id_in_dbt_matches_the_loader() -> None:
    import yaml

    from warehouse.dbt_project import PROJECT_DIR
    from warehouse.locks import LOAD_LOCK_ID

    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    assert project["vars"]["load_lock_id"] == LOAD_LOCK_ID


def test_every_per_column_test_runs_nightly_inside_a_consolidated_test(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-column tests (documented on their columns) are left out of the nightly selection only because each
    model's column_checks / relationship_checks runs them: every one left out is covered, at its own severity, and
    every model a relationships test refers to is built before the consolidated test runs."""
    import json

    monkeypatch.setenv("PSIRF_HOME", str(tmp_path / "home"))
    url = f"duckdb:///{tmp_path / 'parse.duckdb'}"
    target = tmp_path / "target"
    assert invoke(["parse", "--target-path", str(target)], url).success
    nodes = json.loads((target / "manifest.json").read_text(encoding="utf-8"))["nodes"]
    tests = [n for n in nodes.values() if n["resource_type"] == "test" and n.get("test_metadata")]
    consolidated = {(n["test_metadata"]["name"], n["attached_node"], n["config"]["severity"].lower()): n
                    for n in tests if n["test_metadata"]["name"] in ("column_checks", "relationship_checks")}
    per_column = [n for n in tests
                  if n["test_metadata"]["name"] in ("not_null", "unique", "accepted_values", "relationships")]
    assert len(per_column) > 500
    listed = invoke(["ls", "--resource-type", "test", "--output", "name", "--target-path", str(target)], url)
    assert listed.success  # the nightly selection (dbt's default selector)
    nightly = set(listed.listed)
    assert {t["name"] for t in consolidated.values()} <= nightly
    left_to_consolidated = [t for t in per_column if t["name"] not in nightly]
    assert len(left_to_consolidated) > 500  # all but the snapshot's few, which run on their own
    for test in left_to_consolidated:
        kind = "relationship_checks" if test["test_metadata"]["name"] == "relationships" else "column_checks"
        covering = consolidated.get((kind, test["attached_node"], test["config"]["severity"].lower()))
        assert covering is not None, f"{test['name']}: declare {kind} (severity {test['config']['severity']}) " \
                                     f"on {test['attached_node']}"
        assert set(test["depends_on"]["nodes"]) <= set(covering["depends_on"]["nodes"]), test["name"]
    for (kind, model, _), test in consolidated.items():  # none declared without tests to run (it would fail)
        wanted = ("relationships",) if kind == "relationship_checks" else ("not_null", "unique", "accepted_values")
        assert any(t["attached_node"] == model and t["test_metadata"]["name"] in wanted
                   for t in left_to_consolidated), test
