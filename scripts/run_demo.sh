#!/usr/bin/env bash
# `make run`: generate the demo feeds, migrate the warehouse, run psirf_nightly through Airflow, print a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"

export PSIRF_HOME="${PSIRF_HOME:-$ROOT/var}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PSIRF_HOME/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export COLUMNS="${COLUMNS:-160}"
export GX_ANALYTICS_ENABLED=False
# Demo only: an obviously-named key. Production sets the key in the Airflow connection `psirf_pseudonymisation`
# (or PSIRF_PSEUDONYMISATION_KEY from a secret store), never in code.
export PSIRF_PSEUDONYMISATION_KEY="${PSIRF_PSEUDONYMISATION_KEY:-DEMO-ONLY-pseudonymisation-key-do-not-use-in-production}"
mkdir -p "$PSIRF_HOME" "$AIRFLOW_HOME"

echo "==> generating demo provider exports under $PSIRF_HOME/demo_feeds"
"$BIN/psirf" demo-feeds

echo "==> starting the local provider API server (serves the REST-based demo provider)"
rm -f "$PSIRF_HOME/mock-api.port"
"$BIN/psirf" mock-api --port 0 --port-file "$PSIRF_HOME/mock-api.port" --feeds-dir "$PSIRF_HOME/demo_sources" \
  >"$PSIRF_HOME/mock-api.log" 2>&1 &
MOCK_PID=$!
trap 'kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$PSIRF_HOME/mock-api.port" ] && break; sleep 0.2; done
[ -s "$PSIRF_HOME/mock-api.port" ] || { echo "the provider API server did not start:"; cat "$PSIRF_HOME/mock-api.log"; exit 1; }
# Demo only: the connection for R1L's API (production: an Airflow connection `r1l_api` in a secrets backend).
export PSIRF_CONN_R1L_API="${PSIRF_CONN_R1L_API:-http://:demo-bearer-token@127.0.0.1:$(cat "$PSIRF_HOME/mock-api.port")/R1L/api}"

echo "==> migrating the warehouse"
"$BIN/psirf" init

echo "==> preparing Airflow (metadata DB under $AIRFLOW_HOME)"
"$BIN/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }

echo "==> running psirf_nightly through Airflow (airflow dags test)"
status=0
"$BIN/airflow" dags test psirf_nightly >"$AIRFLOW_HOME/dags-test.log" 2>&1 || status=$?
# Per-provider lines from the summary task, and the reason of any failure.
grep -E "\[psirf\.summary\]|batch rejected|provider\(s\) failed" "$AIRFLOW_HOME/dags-test.log" \
  | sed -E 's/^[^ ]+ \[[a-z ]+\] +//; s/ +\[psirf\.summary\].*//; s/ loc=.*//' | sort -u || true
if [ "$status" -ne 0 ]; then
  echo "psirf_nightly FAILED (exit $status) — full log: $AIRFLOW_HOME/dags-test.log" >&2
  exit 1
fi

echo "==> building the system-wide report (psirf_system_report, which the marts asset triggers in production)"
"$BIN/airflow" dags test psirf_system_report >"$AIRFLOW_HOME/system-report.log" 2>&1 \
  || { tail -20 "$AIRFLOW_HOME/system-report.log"; echo "psirf_system_report FAILED" >&2; exit 1; }

echo "==> batch ledger and warehouse"
"$BIN/psirf" status --limit 20
echo
echo "Warehouse: $("$BIN/python" -c 'from psirf.settings import warehouse_url; print(warehouse_url())')"
echo "System report: $(ls "$PSIRF_HOME"/reports/system/*/system_report.html 2>/dev/null | tail -1)"
echo "Provider feedback reports: $PSIRF_HOME/outbox/<ODS>/<load date>/"
echo "Airflow logs of this run: $AIRFLOW_HOME/dags-test.log, $AIRFLOW_HOME/system-report.log"
