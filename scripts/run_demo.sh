#!/usr/bin/env bash
# `make run`: generate the demo feeds, migrate the warehouse, run psirf_nightly through Airflow, print a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"

export PSIRF_HOME="${PSIRF_HOME:-$ROOT/var}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PSIRF_HOME/airflow}"
# shellcheck source=scripts/demo_common.sh
. "$ROOT/scripts/demo_common.sh"
trap demo_stop_mock_api EXIT
demo_generate_feeds
demo_start_mock_api

echo "==> migrating the warehouse"
"$BIN/psirf" init

echo "==> preparing Airflow (metadata DB under $AIRFLOW_HOME; settings written into its airflow.cfg)"
"$BIN/python" -m psirf.airflow_home config >/dev/null
"$BIN/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
# The DAGs' warehouse tasks run in this pool. One slot: DuckDB admits one process at a time to its file. (`dags test`
# runs tasks one by one and ignores pools; the pool is for a scheduler started on this Airflow home.)
"$BIN/airflow" pools set psirf_warehouse 1 "Tasks that open the warehouse: 1 slot for DuckDB (single writer)" \
  >>"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }

echo "==> running psirf_nightly through Airflow (airflow dags test): a line per task as it ends"
status=0
set -o pipefail
"$BIN/airflow" dags test psirf_nightly 2>&1 | "$BIN/python" -m psirf.airflow_home follow "$AIRFLOW_HOME/dags-test.log" \
  || status=$?
# `dags test` writes no task log files: cut its output into one per task, where the UI (`make ui`) reads them.
"$BIN/python" -m psirf.airflow_home split "$AIRFLOW_HOME/dags-test.log" | sed 's/^/    /'
# Per-provider lines from the summary task, and the reason of any failure.
grep -E "\[psirf\.summary\]|batch rejected|provider\(s\) failed" "$AIRFLOW_HOME/dags-test.log" \
  | sed -E 's/^[^ ]+ \[[a-z ]+\] +//; s/ +\[psirf\.summary\].*//; s/ loc=.*//' | sort -u || true
if [ "$status" -ne 0 ]; then
  echo "psirf_nightly FAILED (exit $status) — full log: $AIRFLOW_HOME/dags-test.log" >&2
  exit 1
fi

echo "==> building the system-wide report (psirf_system_report, which the marts asset triggers in production)"
"$BIN/airflow" dags test psirf_system_report 2>&1 \
  | "$BIN/python" -m psirf.airflow_home follow "$AIRFLOW_HOME/system-report.log" \
  || { tail -20 "$AIRFLOW_HOME/system-report.log"; echo "psirf_system_report FAILED" >&2; exit 1; }
"$BIN/python" -m psirf.airflow_home split "$AIRFLOW_HOME/system-report.log" >/dev/null

echo "==> dbt docs (models, columns, tests, lineage) as one offline page"
"$BIN/psirf" docs >/dev/null

echo "==> batch ledger and warehouse"
"$BIN/psirf" status --limit 20
echo
echo "Warehouse: $("$BIN/python" -c 'from psirf.settings import warehouse_url; print(warehouse_url())')"
echo "System report: $(ls "$PSIRF_HOME"/reports/system/*/system_report.html 2>/dev/null | tail -1)"
echo "Provider feedback reports: $PSIRF_HOME/outbox/<ODS>/index.html (one report per run, kept)"
echo "Analysts: read-only copy for BI tools and the DuckDB CLI: $PSIRF_HOME/published/warehouse.duckdb"
echo "          dbt docs: $PSIRF_HOME/docs/dbt/index.html"
echo "Airflow logs of this run: $AIRFLOW_HOME/dags-test.log, $AIRFLOW_HOME/system-report.log; per task under"
echo "          $AIRFLOW_HOME/logs/ — in the UI: make ui"
echo "Data Docs (validation results per run): $PSIRF_HOME/gx/data_docs/index.html"
