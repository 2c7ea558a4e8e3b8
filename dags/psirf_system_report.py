"""
### psirf_system_report — the system-wide PSIRF report, after each nightly marts refresh

Data-aware: scheduled on the `psirf_marts` asset, which the `refresh_marts` task of `psirf_nightly` emits once
every provider's load of the night has finished and the star schema is up to date. **build_report** renders the
self-contained HTML report (small-number suppression applied throughout) to
`$PSIRF_HOME/reports/system/<date>/system_report.html`, dated by the day the triggering run was due (Europe/London).

**build_report** reads the warehouse, so it runs in the Airflow pool `psirf_warehouse`, shared with
psirf_nightly's warehouse tasks: 1 slot on DuckDB (one process at a time may open its file), more on PostgreSQL.

Wiring only: the task is one call into `reports.system_report`. The same report: `psirf report --system`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, dag, task

from psirf.settings import task_timeout_seconds

MARTS_ASSET = Asset(name="psirf_marts", uri="x-psirf://warehouse/marts")
"""Emitted by psirf_nightly's refresh_marts (outlets=[MARTS_ASSET]); same name and URI in both DAG files."""

WAREHOUSE_POOL = "psirf_warehouse"
"""Same pool as psirf_nightly's warehouse tasks: 1 slot on DuckDB, more on PostgreSQL."""

DEFAULT_ARGS = {
    "owner": "psirf-data-engineering",
    # Every task: a hung task fails (and retries) instead of holding its slot forever (PSIRF_TASK_TIMEOUT_SECONDS).
    "execution_timeout": timedelta(seconds=task_timeout_seconds()),
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}


@dag(
    dag_id="psirf_system_report",
    schedule=[MARTS_ASSET],
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["psirf", "report", "system"],
    doc_md=__doc__,
)
def psirf_system_report() -> None:
    @task(pool=WAREHOUSE_POOL)
    def build_report(dag_run: Any = None) -> dict[str, Any]:
        from reports.system_report import build_for_run

        due = getattr(dag_run, "run_after", None)
        return build_for_run(pendulum.instance(due).in_timezone("Europe/London").date() if due else None)

    build_report()


system_report_dag = psirf_system_report()
