"""
### psirf_nightly — the nightly load of every partner provider's patient-safety data

For each enabled provider in `config/providers.toml` (dynamic task mapping, one mapped task group per
provider): **extract** lists the provider's new export files, **transform_validate** maps them to the canonical
model, pseudonymises and validates them, and **load** merges each batch into the warehouse in one transaction
and writes the batch ledger. One provider failing does not stop the others. Once every provider's load has
finished, the **marts** task group builds the analysts' warehouse: the dbt project in `warehouse/dbt`, one task
per model, seed and snapshot (each runs the node and its own tests), facts incrementally; **marts_tests** runs
every dbt test, including those spanning several models. **publish_marts** then
re-applies access control (PostgreSQL) or writes the read-only copy for BI tools (DuckDB) and emits the marts
asset that starts `psirf_system_report`. **feedback** sends each provider its data-quality report, which reads its
measures from the marts (also after a failed load), and **summary** fails the run if any provider failed, naming
them: a report or build that succeeded never hides a failed load.

A rejected batch (empty, undecodable, required column missing, too many invalid rows) fails its provider at
once, without retries: rerunning cannot fix the data. Its log's first line names the provider, the file, the problem
and what to do, with no traceback (an expected failure, `psirf.airflow_tasks`); unexpected errors keep their
traceback and retry with exponential backoff. Mapped task instances are labelled with the provider's ODS code and
name. The **summary** names each failed provider with its reason, and a failed run e-mails the data-engineering
contact once (`on_failure_callback`, the feedback reports' SMTP settings).

Every task that opens the warehouse (extract, load, the dbt tasks, publish_marts, feedback) runs in the Airflow
pool `psirf_warehouse`. Its slot count is a deployment setting: 1 on DuckDB, which admits one process at a time to
its file (so tasks on several workers queue instead of failing on the file lock), more on PostgreSQL
(`airflow pools set psirf_warehouse 4 "..."`). A task whose pool does not exist is never scheduled: create the
pool before the first run (`make run` and `make distributed` do).

Wiring only: every task is one call into `psirf.pipeline`. XCom carries batch references and counts, never rows.
"""

# TaskFlow calls take XComArgs where the functions declare the values they will receive at run time.
# mypy: disable-error-code="arg-type"
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, dag, task, task_group

from psirf.airflow_tasks import MAP_INDEX_TEMPLATE, NO_RETRY, alert_on_failure, template_filters
from psirf.dbt_cosmos import marts_task_group
from psirf.settings import task_timeout_seconds

WAREHOUSE_POOL = "psirf_warehouse"
"""Pool of every task that opens the warehouse: 1 slot on DuckDB (one process at a time), more on PostgreSQL."""

DEFAULT_ARGS = {
    "owner": "psirf-data-engineering",
    # Every task: a hung task fails (and retries) instead of holding its slot forever (PSIRF_TASK_TIMEOUT_SECONDS).
    "execution_timeout": timedelta(seconds=task_timeout_seconds()),
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}


@dag(
    dag_id="psirf_nightly",
    schedule="30 1 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["psirf", "nightly", "load"],
    doc_md=__doc__,
    user_defined_filters=template_filters(),
    on_failure_callback=alert_on_failure,
)
def psirf_nightly() -> None:
    @task
    def providers() -> list[str]:
        from psirf.pipeline import start_run

        return start_run()  # also sweeps stale work folders and landing files left by killed runs

    # Every mapped instance is labelled "RQW · <name>" in the grid and graph (not "3"); an expected failure (a
    # rejected file, a refused credential, a configuration mistake) fails at once with one line (NO_RETRY).
    labelled: dict[str, Any] = {"map_index_template": MAP_INDEX_TEMPLATE, "retry_policy": NO_RETRY}

    @task_group(group_id="provider")
    def provider_load(ods_code: str) -> Any:
        @task(pool=WAREHOUSE_POOL, **labelled)
        def extract(ods_code: str, run_id: str | None = None, data_interval_end: Any = None) -> list[dict[str, Any]]:
            from psirf.airflow_tasks import expected
            from psirf.pipeline import extract_provider, naive_utc

            return expected(lambda: extract_provider(ods_code, run_id=run_id,
                                                     extracted_at=naive_utc(data_interval_end)), ods_code)

        @task(**labelled)  # CPU-bound, never opens the warehouse (extract reads the volume history): outside the pool
        def transform_validate(refs: list[dict[str, Any]], ti: Any = None) -> list[dict[str, Any]]:
            from psirf.airflow_tasks import expected
            from psirf.cleanup import last_attempt
            from psirf.pipeline import process_batches

            # a failed attempt keeps its batches' files for the retry; the last one removes them
            return expected(lambda: process_batches(refs, cleanup_on_failure=last_attempt(ti)))

        @task(pool=WAREHOUSE_POOL, **labelled)
        def load(ods_code: str, processed: list[dict[str, Any]], ti: Any = None) -> dict[str, Any]:
            from psirf import airflow_tasks
            from psirf.cleanup import last_attempt

            return airflow_tasks.expected(
                lambda: airflow_tasks.load(ods_code, processed, cleanup_on_failure=last_attempt(ti)), ods_code)

        return load(ods_code, transform_validate(extract(ods_code)))

    @task(trigger_rule="all_done")
    def loads_finished() -> None:
        """The marts build starts once every provider's load has ended, whichever way it ended."""

    @task(pool=WAREHOUSE_POOL)
    def marts_tests() -> dict[str, Any]:
        """Every dbt test, once every model is built: the ones spanning several models run only here."""
        from airflow.sdk.exceptions import AirflowFailException

        from warehouse.dbt_project import DbtError
        from warehouse.marts import test_marts

        try:
            return test_marts()
        except DbtError as exc:  # a failing test is a finding about the data: retrying cannot change it
            raise AirflowFailException(str(exc)) from exc

    # Emitting the marts asset starts psirf_system_report (data-aware scheduling) once the marts are built.
    @task(outlets=[Asset(name="psirf_marts", uri="x-psirf://warehouse/marts")], pool=WAREHOUSE_POOL)
    def publish_marts() -> dict[str, Any]:
        from warehouse.marts import publish

        return publish()

    @task(trigger_rule="all_done", retries=1, pool=WAREHOUSE_POOL, map_index_template=MAP_INDEX_TEMPLATE)
    def feedback(ods_code: str, run_id: str | None = None) -> dict[str, Any]:
        from reports.provider_feedback import deliver_for_run

        return deliver_for_run(ods_code, run_id)

    @task(trigger_rule="all_done", retries=0)
    def summary(expected: list[str], results: list[dict[str, Any]], marts: dict[str, Any] | None = None,
                reports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        from psirf.airflow_tasks import summarise

        return summarise(expected, list(results), marts, list(reports or []))

    expected = providers()
    results = provider_load.expand(ods_code=expected)
    marts = marts_task_group(pool=WAREHOUSE_POOL)
    published = publish_marts()
    results >> loads_finished() >> marts >> marts_tests() >> published
    reports = feedback.expand(ods_code=expected)
    published >> reports
    summary(expected, results, published, reports)


nightly_dag = psirf_nightly()
