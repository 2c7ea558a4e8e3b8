"""Two loads of one file at once leave one loaded batch and single counts everywhere, on both engines.

PostgreSQL: real ``psirf`` processes. To make the race certain rather than likely, the test holds the warehouse's
load lock exclusively (as the marts refresh does) until both processes are waiting on it *inside* their load
transactions, i.e. both have already passed the "already loaded?" check before the work; then it lets them go.
DuckDB admits one process to its file, so its race is two threads on one engine, released together by a barrier.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from psirf.pipeline import load_processed, process_batch
from tests.exports import ROW, rows, write_export
from warehouse.locks import LOAD_LOCK_ID

KEY = "TEST-ONLY-key-for-pseudonymisation-tests-0123"
PSIRF = str(Path(sys.executable).with_name("psirf"))
PER_BATCH_TABLES = ("quarantine", "dq_rule_result", "dq_row_issue", "dq_dimension_score")


def _export(folder: Path) -> Path:
    """8 rows: 5 valid, 2 quarantined (unknown harm label), 1 loaded with a warning (candour not recorded)."""
    bad = [{**ROW, "Datix ID": f"20{i}", "Actual Harm": "Somewhat hurt"} for i in range(2)]
    warned = {**ROW, "Datix ID": "300", "Actual Harm": "Moderate (Short-term harm: required further treatment or "
                                                      "procedure)", "Duty of Candour": "No"}
    return write_export(folder / "incidents_race.csv", [*rows(5), *bad, warned])


def _assert_loaded_once(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        ledger = conn.execute(sa.text("SELECT batch_id, status, rows_in, loaded, quarantined FROM batch_ledger")).all()
        assert [(r.status, r.rows_in, r.loaded, r.quarantined) for r in ledger] == [("loaded", 8, 6, 2)]
        winner = ledger[0].batch_id
        assert conn.execute(sa.text("SELECT COUNT(*) FROM incident")).scalar_one() == 6
        for table in PER_BATCH_TABLES:
            ids = conn.execute(sa.text(f"SELECT DISTINCT batch_id FROM {table}")).scalars().all()
            assert ids == [winner], table
        assert conn.execute(sa.text("SELECT COUNT(*) FROM quarantine")).scalar_one() == 2
        assert conn.execute(sa.text("SELECT COUNT(*) FROM dq_row_issue WHERE rule_id = 'candour.not_recorded'")
                            ).scalar_one() == 1
    return winner


@pytest.fixture
def env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("PSIRF_HOME", str(home))
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", KEY)
    return home


def test_two_threads_loading_one_file_on_duckdb(env, tmp_path, monkeypatch):
    from warehouse.db import make_engine
    from warehouse.migrate import upgrade

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", url)
    engine = make_engine(url)
    upgrade(engine)
    path = _export(tmp_path)
    from connectors.base import file_checksum
    from psirf.pipeline import BatchRef, utcnow

    refs = [process_batch(BatchRef(batch_id=f"00000000-0000-0000-0000-00000000000{i}", run_id=None,
                                   provider_ods="RAJ", entity="incidents", profile="datix_web_listing_v1",
                                   source_file=str(path), checksum=file_checksum(path),
                                   extracted_at=utcnow().isoformat()).as_dict()) for i in (1, 2)]
    barrier = threading.Barrier(2)
    results: list[dict] = []
    errors: list[BaseException] = []

    def load(ref: dict) -> None:
        try:
            barrier.wait()
            results.append(load_processed(ref, engine=engine))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(ref,)) for ref in refs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert errors == []
        assert sorted(r["status"] for r in results) == ["loaded", "skipped"]
        skipped = next(r for r in results if r["status"] == "skipped")
        winner = _assert_loaded_once(engine)
        assert skipped["message"] == f"already loaded (same checksum) by batch {winner}"
        assert not any(Path(r["work_dir"]).exists() for r in refs)
    finally:
        engine.dispose()


def _run_two(args: list[str], env: dict[str, str], engine: sa.Engine) -> list[subprocess.CompletedProcess]:
    """Start ``psirf <args>`` twice while holding the load lock; release it once both wait on it in a load."""
    with engine.connect() as holder:
        holder.exec_driver_sql(f"SELECT pg_advisory_lock({LOAD_LOCK_ID})")
        procs = [subprocess.Popen([PSIRF, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        deadline = time.monotonic() + 180
        waiting = 0
        while waiting < 2:
            assert time.monotonic() < deadline, "the two loads never reached the load lock"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.2)
            waiting = holder.exec_driver_sql(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").scalar_one()
        holder.exec_driver_sql(f"SELECT pg_advisory_unlock({LOAD_LOCK_ID})")
        holder.commit()
    done = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


@pytest.mark.slow
@pytest.mark.postgres
def test_two_psirf_load_processes_on_postgresql(env, tmp_path, pg_warehouse):
    warehouse_url, migrated_engine = pg_warehouse
    path = _export(tmp_path)
    child_env = os.environ | {"PSIRF_WAREHOUSE_URL": warehouse_url}
    done = _run_two(["load", str(path), "--provider", "RAJ", "--json"], child_env, migrated_engine)
    assert [p.returncode for p in done] == [0, 0], [p.stderr for p in done]
    outcomes = sorted(json.loads(p.stdout)["status"] for p in done)
    assert outcomes == ["loaded", "skipped"]
    _assert_loaded_once(migrated_engine)
    assert not (env / "work").exists() or not any((env / "work").iterdir())


@pytest.mark.slow
@pytest.mark.postgres
def test_two_rest_runs_of_one_provider_on_postgresql(demo_estate, pg_warehouse):
    warehouse_url, migrated_engine = pg_warehouse
    home, _, _ = demo_estate
    child_env = os.environ | {"PSIRF_WAREHOUSE_URL": warehouse_url}
    # the marts are left out: two builds at once are serialised by their own lock (test below), and each costs a
    # dbt build; this test is about the loads
    done = _run_two(["run", "--provider", "R1L", "--no-marts", "--json"], child_env, migrated_engine)
    assert [p.returncode for p in done] == [0, 0], [p.stderr for p in done]
    by_entity: dict[str, list[str]] = {}
    for p in done:
        for b in json.loads(p.stdout)["batches"]:
            by_entity.setdefault(b["entity"], []).append(b["status"])
    # each entity's batch is loaded by one run and found already loaded by the other (which run wins may differ)
    assert {e: sorted(s) for e, s in by_entity.items()} == {
        e: ["loaded", "skipped"] for e in ("incidents", "learning_responses", "safety_actions")}
    with migrated_engine.connect() as conn:
        ledger = conn.execute(sa.text("SELECT entity, checksum, status, batch_id FROM batch_ledger")).all()
        assert sorted(r.entity for r in ledger) == ["incidents", "learning_responses", "safety_actions"]
        assert {r.status for r in ledger} == {"loaded"}
        winners = {r.batch_id for r in ledger}
        for table in PER_BATCH_TABLES:
            found = set(conn.execute(sa.text(f"SELECT DISTINCT batch_id FROM {table}")).scalars())
            assert found <= winners, table
        incidents = conn.execute(sa.text("SELECT COUNT(*), COUNT(DISTINCT source_record_id) FROM incident")).one()
        assert incidents[0] == incidents[1] > 0
    assert list((home / "landing" / "R1L").glob("*.jsonl")) == []


@pytest.mark.postgres
def test_two_marts_builds_on_postgresql_wait_for_each_other(pg_warehouse):
    """Two dbt builds at once raced on creating the schemas ("duplicate key ... pg_namespace"): the second waits."""
    import threading

    from warehouse.locks import MARTS_LOCK_ID, marts_build_lock

    url, engine = pg_warehouse
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with marts_build_lock(url):
            order.append("first in")
            first_in.set()
            deadline = time.monotonic() + 30
            with engine.connect() as conn:  # wait until the second build is queued behind this one
                while not conn.exec_driver_sql(
                        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                        f"AND objid = {MARTS_LOCK_ID & 0xFFFFFFFF} AND database = "
                        "(SELECT oid FROM pg_database WHERE datname = current_database())").scalar_one():
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            order.append("first out")

    def second() -> None:
        first_in.wait(30)
        with marts_build_lock(url):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert order == ["first in", "first out", "second in"]
    with engine.connect() as conn:  # released: nothing left held
        assert conn.exec_driver_sql(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' "
            f"AND objid = {MARTS_LOCK_ID & 0xFFFFFFFF}").scalar_one() == 0
