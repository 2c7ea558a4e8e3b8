"""psirf_nightly: DAG integrity, no work at parse time, and a real run through Airflow on both warehouses."""

import importlib.util
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
DAG_FILE = ROOT / "dags" / "psirf_nightly.py"
AIRFLOW = Path(sys.executable).with_name("airflow")


def _load_dag():
    spec = importlib.util.spec_from_file_location("psirf_nightly_dag", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.nightly_dag


def test_dag_integrity():
    dag = _load_dag()
    assert dag.dag_id == "psirf_nightly"
    assert {"psirf", "nightly"} <= set(dag.tags)
    assert dag.catchup is False and dag.start_date.tzinfo is not None and dag.doc_md
    assert dag.max_active_runs == 1
    wiring = {"providers", "provider.extract", "provider.transform_validate", "provider.load", "loads_finished",
              "marts_tests", "publish_marts", "feedback", "summary"}
    assert wiring <= set(dag.task_ids)
    # The grid shows the dbt project: a task per model, seed and snapshot, in the marts group.
    dbt_tasks = {t for t in dag.task_ids if t.startswith("marts.")}
    for node in ("fct_incident", "fct_incident_patient", "dim_organisation", "snap_organisations",
                 "oversight_provider_measures", "oversight_duty_of_candour", "int_incident_measures",
                 "stg_canonical__incidents", "lfpse_v5_code_systems"):
        assert any(t.split(".")[1].startswith(node) for t in dbt_tasks), node
    assert set(dag.task_ids) - wiring == dbt_tasks
    assert len(dbt_tasks) >= 50
    fct = next(dag.get_task(t) for t in dbt_tasks if t.startswith("marts.fct_incident_"))
    assert fct.pool == "psirf_warehouse"
    assert dag.get_task("marts_tests").upstream_task_ids >= {t for t in dbt_tasks if not dag.get_task(t)
                                                             .downstream_task_ids & dbt_tasks}
    assert dag.get_task("feedback").trigger_rule == "all_done"
    load = dag.get_task("provider.load")
    assert load.retries >= 1 and load.retry_exponential_backoff
    assert load.retry_delay >= timedelta(seconds=10)
    assert dag.get_task("summary").retries == 0
    assert dag.get_task("summary").trigger_rule == "all_done"
    assert dag.get_task("provider.extract").downstream_task_ids == {"provider.transform_validate"}
    assert dag.get_task("provider.transform_validate").downstream_task_ids == {"provider.load"}


def test_parsing_the_dag_does_no_work():
    """Parsing must not import the pipeline, pandas or GX, nor touch a database (the scheduler parses often)."""
    code = (
        "import sys, importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('d', {str(DAG_FILE)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "heavy = [n for n in ('pandas', 'great_expectations', 'psirf.pipeline', 'duckdb', 'psycopg') "
        "if n in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY=", out.stdout[-500:]  # parse logs come before it


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    env = _airflow_env(home)
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return home


def _airflow_env(airflow_home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "GX_ANALYTICS_ENABLED": "False",
        **extra,
    })
    return env


@pytest.mark.airflow
@pytest.mark.slow
def test_nightly_run_through_airflow_isolates_a_failing_provider(demo_estate, airflow_home, warehouse_url,
                                                                 migrated_engine):
    home, _, _ = demo_estate
    broken = home / "demo_feeds" / "RQW" / "incidents_20261101.csv"
    broken.write_text("Datix ID,Incident Date\r\n1,01/01/2026\r\n", encoding="utf-8")
    env = _airflow_env(airflow_home, PSIRF_WAREHOUSE_URL=warehouse_url)  # home, key and API connection: demo_estate

    migrated_engine.dispose()  # DuckDB allows one writing process: release the file for Airflow's tasks
    run = subprocess.run([str(AIRFLOW), "dags", "test", "psirf_nightly"], env=env, capture_output=True, text=True,
                         timeout=600)

    log = run.stdout + run.stderr
    assert run.returncode != 0, log[-3000:]  # the run ends failed because one provider failed ...
    assert "1 provider(s) failed: RQW" in log
    with migrated_engine.connect() as conn:
        ledger = conn.execute(sa.text(
            "SELECT provider_ods, status, COUNT(*) FROM batch_ledger GROUP BY 1, 2 ORDER BY 1, 2")).all()
        providers_with_incidents = conn.execute(sa.text(
            "SELECT COUNT(DISTINCT provider_ods) FROM incident")).scalar()
    # ... but every other provider loaded both files, and RQW's good files loaded too.
    assert [tuple(r) for r in ledger] == [("QH8", "loaded", 3), ("R1L", "loaded", 3), ("RAJ", "loaded", 2),
                                          ("RDE", "loaded", 2), ("RQW", "loaded", 2), ("RQW", "rejected", 1),
                                          ("RYC", "loaded", 2)]
    assert providers_with_incidents == 6
    assert "9434765919" not in log  # no identifiers in task logs
