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
    # Mapped instances are labelled by provider; expected failures fail at once; a failed run alerts.
    for task_id in ("provider.extract", "provider.transform_validate", "provider.load", "feedback"):
        assert "provider_label" in dag.get_task(task_id).map_index_template, task_id
    assert dag.get_task("provider.load").retry_policy is not None
    assert dag.on_failure_callback is not None


def test_map_index_label_and_expected_failure_render():
    """The label template renders "RQW · <name>" from the providers list; an expected failure is a SystemExit
    (Airflow logs it as one line, no traceback) that the retry policy fails at once."""
    import jinja2

    from psirf.airflow_tasks import MAP_INDEX_TEMPLATE, NO_RETRY, ExpectedFailure, provider_label, template_filters

    class TI:
        map_index = 1

        @staticmethod
        def xcom_pull(task_ids):
            assert task_ids == "providers"
            return ["RAJ", "RQW", "RYC"]

    env = jinja2.Environment()
    env.filters.update(template_filters())
    label = env.from_string(MAP_INDEX_TEMPLATE).render(ti=TI())
    assert label == provider_label("RQW") and label.startswith("RQW · ") and len(label) > 8
    decision = NO_RETRY.evaluate(ExpectedFailure("RQW: x.csv rejected"), try_number=1, max_tries=3)
    assert decision.action.value == "fail"
    assert NO_RETRY.evaluate(RuntimeError("boom"), try_number=1, max_tries=3).action.value == "default"
    assert isinstance(ExpectedFailure("x"), SystemExit) and not isinstance(ExpectedFailure("x"), Exception)


def test_expected_and_unexpected_errors(tmp_path, monkeypatch, caplog):
    from psirf.airflow_tasks import ExpectedFailure, expected
    from psirf.errors import BatchRejected
    from warehouse.ready import WarehouseError

    def rejected():
        raise BatchRejected("/feeds/RQW/incidents_20261101.csv", "required column 'Actual Harm' is missing")

    with pytest.raises(ExpectedFailure) as failure:
        expected(rejected, "RQW")
    assert str(failure.value).startswith("RQW: /feeds/RQW/incidents_20261101.csv: batch rejected: required column")
    with pytest.raises(WarehouseError):  # locked or unreachable: transient, keeps its traceback and retries
        expected(lambda: (_ for _ in ()).throw(WarehouseError("locked")), "RQW")


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
    assert "RQW: incidents_20261101.csv rejected: " in log.split("1 provider(s) failed: RQW", 1)[1]  # with why
    _labels_and_task_logs_as_the_ui_shows_them(airflow_home, log)
    with migrated_engine.connect() as conn:
        ledger = conn.execute(sa.text(
            "SELECT provider_ods, status, COUNT(*) FROM batch_ledger GROUP BY 1, 2 ORDER BY 1, 2")).all()
        providers_with_incidents = conn.execute(sa.text(
            "SELECT COUNT(DISTINCT provider_ods) FROM incident WHERE record_origin = 'local'")).scalar()
    # ... but every other provider loaded both files, and RQW's good files loaded too.
    assert [tuple(r) for r in ledger] == [("QH8", "loaded", 3), ("R1L", "loaded", 3), ("RAJ", "loaded", 2),
                                          ("RDE", "loaded", 2), ("RQW", "loaded", 2), ("RQW", "rejected", 1),
                                          ("RYC", "loaded", 2), ("X24", "loaded", 1)]
    assert providers_with_incidents == 6
    assert "9434765919" not in log  # no identifiers in task logs


def _labels_and_task_logs_as_the_ui_shows_them(airflow_home: Path, log: str) -> None:
    """The grid's labels are the rendered map indexes Airflow stored; the rejected load's task log (cut from the
    run's output where the UI reads it, as `make run` does) opens on one line naming provider, file and problem,
    with no traceback."""
    import sqlite3

    from psirf.airflow_home import first_task_line, split_test_log

    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute("SELECT task_id, map_index, rendered_map_index, state FROM task_instance "
                          "WHERE task_id = 'provider.load'").fetchall()
    labels = {label.split(" ")[0]: state for _, _, label, state in rows}
    assert labels == {"QH8": "success", "R1L": "success", "RAJ": "success", "RDE": "success", "RQW": "failed",
                      "RYC": "success", "X24": "success"}, rows
    assert all(" · " in label for _, _, label, _ in rows)  # code and name
    index = next(i for _, i, label, _ in rows if label.startswith("RQW"))

    output = airflow_home / "dags-test.log"
    output.write_text(log, encoding="utf-8")
    files = split_test_log(output, airflow_home)
    [load_log] = [f for f in files if "task_id=provider.load" in str(f) and f"map_index={index}" in str(f)]
    assert load_log.parts[-5].startswith("dag_id=psirf_nightly") and load_log.name == "attempt=1.log"
    text = load_log.read_text(encoding="utf-8")
    first = first_task_line(text)
    assert "RQW: incidents_20261101.csv rejected: " in first and "send it again" in first, text[:3000]
    assert "Traceback" not in text and "AirflowFailException" not in text
