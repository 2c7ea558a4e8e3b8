"""Distributed deployment wiring, without starting anything: every task that opens the warehouse runs in the
``psirf_warehouse`` pool (so DuckDB's one-process-at-a-time file is never opened by two workers at once), and the
`make distributed` checks attribute task instances to workers correctly.

The distributed run itself (CeleryExecutor, two workers, PostgreSQL) is `make distributed`: minutes, not a unit test.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POOL = "psirf_warehouse"

# Tasks that open the warehouse (make_engine) and the call that does it:
#   extract             psirf.pipeline.extract_provider  reads the ledger's checksums / the API watermark
#   load                psirf.pipeline.load_batches  writes the batch, ledger and quality results
#   marts.<node>        a dbt node (astronomer-cosmos): builds a model, seed or snapshot and runs its tests
#   marts_tests         warehouse.marts.test_marts  every dbt test
#   publish_marts       warehouse.marts.publish  access control (PostgreSQL) or the published copy (DuckDB)
#   feedback            reports.provider_feedback.deliver_for_run  warehouse checks, reads the marts
#   build_report        reports.system_report.build_for_run  reads the marts
WAREHOUSE_TASKS = {
    "psirf_nightly": {"provider.extract", "provider.load", "marts_tests", "publish_marts", "feedback"},
    "psirf_system_report": {"build_report"},
}
# Tasks that never open it, so they stay out of the pool: the registry only, XCom only, a no-op join, and the
# CPU-bound transform_validate (extract hands it the volume history with the batch reference), which may run in
# parallel.
OTHER_TASKS = {"psirf_nightly": {"providers", "provider.transform_validate", "loads_finished", "summary"},
               "psirf_system_report": set()}


def _load(dag_file: str, attribute: str):
    spec = importlib.util.spec_from_file_location(f"wiring_{attribute}", ROOT / "dags" / dag_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attribute)


@pytest.fixture(scope="module")
def dags():
    return {"psirf_nightly": _load("psirf_nightly.py", "nightly_dag"),
            "psirf_system_report": _load("psirf_system_report.py", "system_report_dag")}


@pytest.mark.parametrize("dag_id", sorted(WAREHOUSE_TASKS))
def test_every_warehouse_task_runs_in_the_pool(dags, dag_id):
    dag = dags[dag_id]
    dbt_nodes = {t for t in dag.task_ids if t.startswith("marts.")}
    assert set(dag.task_ids) - dbt_nodes == WAREHOUSE_TASKS[dag_id] | OTHER_TASKS[dag_id], \
        "a task was added: classify it above"
    in_pool = {t.task_id for t in dag.tasks if t.pool == POOL}
    assert in_pool == WAREHOUSE_TASKS[dag_id] | dbt_nodes
    assert all(dag.get_task(t).pool_slots == 1 for t in in_pool)


def test_the_pool_is_documented_in_both_dags(dags):
    for dag in dags.values():
        assert POOL in dag.doc_md


def test_the_demo_scripts_create_the_pool():
    """A task whose pool does not exist is never scheduled: both deployments create it before the first run."""
    assert f"pools set {POOL} 1 " in (ROOT / "scripts" / "run_demo.sh").read_text(encoding="utf-8")
    assert f'pools set {POOL} "$POOL_SLOTS"' in (ROOT / "scripts" / "run_distributed.sh").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def helper():
    spec = importlib.util.spec_from_file_location("distributed_helper", ROOT / "scripts" / "distributed_helper.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["distributed_helper"] = module
    spec.loader.exec_module(module)
    return module


A = "0f8e2a47-1c6b-4d0e-9a51-3b7c2d9e8f10"
B = "5d1c9b3a-7e2f-4a68-b0c4-e9f8a7b6c5d4"
C = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


def _line(celery_id: str) -> str:
    return f"2026-11-27T14:01:45Z [info     ] [{celery_id}] Executing workload in Celery: dag_rel_path=...\n"


def test_task_instances_are_attributed_to_the_worker_that_logged_them(helper):
    logs = {"worker1": _line(A) + _line(C), "worker2": "celery@vm ready.\n" + _line(B)}
    by_worker = helper.attribute_to_workers({"d/r/extract[0]": A, "d/r/extract[1]": B, "d/r/load[0]": C}, logs)
    assert by_worker == {"worker1": ["d/r/extract[0]", "d/r/load[0]"], "worker2": ["d/r/extract[1]"]}


def test_a_run_on_one_worker_only_fails_the_check(helper):
    with pytest.raises(helper.CheckFailed, match="worker2 ran no task"):
        helper.attribute_to_workers({"d/r/a": A, "d/r/b": B}, {"worker1": _line(A) + _line(B), "worker2": ""})


def test_a_task_instance_in_no_log_or_in_two_fails_the_check(helper):
    with pytest.raises(helper.CheckFailed, match="found in 0 worker logs"):
        helper.attribute_to_workers({"d/r/a": A, "d/r/b": None}, {"worker1": _line(A), "worker2": _line(C)})
    with pytest.raises(helper.CheckFailed, match="found in 2 worker logs"):
        helper.attribute_to_workers({"d/r/a": A}, {"worker1": _line(A), "worker2": _line(A)})
