#!/usr/bin/env bash
# `make distributed`: the same DAGs on a distributed Airflow — CeleryExecutor with a Redis broker, the metadata
# database and Celery result backend on PostgreSQL, an API server, a scheduler, a dag-processor and two Celery
# workers — loading the PostgreSQL warehouse. Each part is its own process that talks to the others only through
# PostgreSQL, the broker and the API server, as on separate hosts. It runs psirf_nightly for real, waits for it and
# for the psirf_system_report run its marts asset triggers, checks the result, and stops everything it started.
#
# Settings (environment; defaults in brackets):
#   PSIRF_DIST_PG            PostgreSQL server for both databases [postgresql://postgres@127.0.0.1:5432]
#   PSIRF_DIST_META_DB       Airflow metadata database, dropped and recreated [psirf_airflow_meta]
#   PSIRF_DIST_WAREHOUSE_DB  warehouse database, dropped and recreated [psirf_warehouse_dist]
#   PSIRF_DIST_WAREHOUSE     postgresql, or duckdb to run the same deployment on a DuckDB file [postgresql]
#   PSIRF_DIST_BROKER_URL    Celery broker [redis://127.0.0.1:6379/3]; RabbitMQ: amqp://guest:guest@127.0.0.1:5672//
#   PSIRF_DIST_POOL_SLOTS    slots of the psirf_warehouse pool [4 on PostgreSQL; always 1 on DuckDB]
#   PSIRF_DIST_TIMEOUT       seconds to wait for the runs [900]
#   PSIRF_DIST_HOME          working folder, emptied at start [$PSIRF_HOME/distributed, i.e. var/distributed]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
STARTED=$(date +%s)

PG_SERVER="${PSIRF_DIST_PG:-postgresql://postgres@127.0.0.1:5432}"
META_DB="${PSIRF_DIST_META_DB:-psirf_airflow_meta}"
WAREHOUSE_DB="${PSIRF_DIST_WAREHOUSE_DB:-psirf_warehouse_dist}"
WAREHOUSE_KIND="${PSIRF_DIST_WAREHOUSE:-postgresql}"
BROKER_URL="${PSIRF_DIST_BROKER_URL:-redis://127.0.0.1:6379/3}"
POOL_SLOTS="${PSIRF_DIST_POOL_SLOTS:-4}"
RUN_TIMEOUT="${PSIRF_DIST_TIMEOUT:-900}"
QUEUE=psirf
WORKERS=(worker1 worker2)
DIST_HOME="${PSIRF_DIST_HOME:-${PSIRF_HOME:-$ROOT/var}/distributed}"

die() { echo "FAILED: $*" >&2; exit 1; }
helper() { "$BIN/python" "$ROOT/scripts/distributed_helper.py" "$@"; }
elapsed() { echo "$(( $(date +%s) - STARTED )) s"; }

[ -x "$BIN/airflow" ] || die "$BIN/airflow not found: run \`make venv\` first"
[ "$PG_SERVER" = "${PG_SERVER#postgresql://}" ] && die "PSIRF_DIST_PG must be a postgresql:// URL (got $PG_SERVER)"
[ "$META_DB" != "$WAREHOUSE_DB" ] || die "the metadata and warehouse databases must differ"

# --- a clean working folder: feeds, landing, staged batches, outbox, Airflow home, logs ------------------------
if [ -d "$DIST_HOME" ] && [ -n "$(ls -A "$DIST_HOME")" ] && [ ! -f "$DIST_HOME/.psirf-distributed" ]; then
  die "$DIST_HOME exists and was not made by this script; refusing to empty it (set PSIRF_DIST_HOME)"
fi
rm -rf "$DIST_HOME"
mkdir -p "$DIST_HOME/logs"
touch "$DIST_HOME/.psirf-distributed"
export PSIRF_HOME="$DIST_HOME"
export AIRFLOW_HOME="$DIST_HOME/airflow"
LOGS="$DIST_HOME/logs"
# The demo's environment, provider exports and API server, shared with `make run`.
# shellcheck source=scripts/demo_common.sh
. "$ROOT/scripts/demo_common.sh"

# --- processes started here; all stopped on exit, whatever happens -------------------------------------------
PIDS=()
NAMES=()
# Each component runs in its own session (setsid): stopping its process group also stops the task and pool
# processes it forked.
start() {
  local name=$1
  shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
}
stop_all() {
  local status=$? i
  trap - EXIT INT TERM
  if [ "${#PIDS[@]}" -gt 0 ]; then
    echo "==> stopping ${NAMES[*]}"
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM -- "-${PIDS[i]}" 2>/dev/null || true; done
    for _ in $(seq 1 60); do
      local alive=0
      for i in "${!PIDS[@]}"; do kill -0 -- "-${PIDS[i]}" 2>/dev/null && alive=1; done
      [ "$alive" -eq 0 ] && break
      sleep 0.5
    done
    for i in "${!PIDS[@]}"; do
      if kill -0 -- "-${PIDS[i]}" 2>/dev/null; then
        echo "    ${NAMES[i]} did not stop within 30 s: killed" >&2
        kill -KILL -- "-${PIDS[i]}" 2>/dev/null || true
      fi
      wait "${PIDS[i]}" 2>/dev/null || true
    done
  fi
  demo_stop_mock_api
  if [ "$status" -ne 0 ]; then
    echo "make distributed FAILED after $(elapsed) — component logs: $LOGS/" >&2
  fi
  exit "$status"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# --- 1. PostgreSQL: fresh metadata and warehouse databases; the broker -------------------------------------------
bash "$ROOT/scripts/ensure_postgres.sh"
META_URL="postgresql+psycopg://${PG_SERVER#postgresql://}/$META_DB"
echo "==> PostgreSQL databases on ${PG_SERVER#*@}"
if [ "$WAREHOUSE_KIND" = duckdb ]; then
  helper recreate-dbs "$PG_SERVER/postgres" "$META_DB"
  export PSIRF_WAREHOUSE_URL="duckdb:///$DIST_HOME/warehouse.duckdb"
  POOL_SLOTS=1  # DuckDB admits one process at a time to its file
elif [ "$WAREHOUSE_KIND" = postgresql ]; then
  helper recreate-dbs "$PG_SERVER/postgres" "$META_DB" "$WAREHOUSE_DB"
  export PSIRF_WAREHOUSE_URL="postgresql+psycopg://${PG_SERVER#postgresql://}/$WAREHOUSE_DB"
else
  die "PSIRF_DIST_WAREHOUSE must be postgresql or duckdb (got $WAREHOUSE_KIND)"
fi
echo "==> Celery broker"
helper broker-reset "$BROKER_URL" "$QUEUE"

# --- 2. demo provider exports and the provider API server (as `make run`) -------------------------------------
demo_generate_feeds
demo_start_mock_api

# --- 3. the warehouse ------------------------------------------------------------------------------------------
echo "==> migrating the warehouse ($WAREHOUSE_KIND)"
"$BIN/psirf" init

# --- 4. Airflow configuration: identical for every component (environment, as a deployment would template it) -
API_PORT=$(helper free-ports 1)
secret() { "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(32))'; }
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$META_URL"
# Airflow's async engine (API server) would default to asyncpg; psycopg 3, already installed, has an async driver.
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC="postgresql+psycopg_async://${PG_SERVER#postgresql://}/$META_DB"
export AIRFLOW__CELERY__BROKER_URL="$BROKER_URL"
export AIRFLOW__CELERY__RESULT_BACKEND="db+$META_URL"
export AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT=21600  # > the longest task (6 h)
export AIRFLOW__OPERATORS__DEFAULT_QUEUE="$QUEUE"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$API_PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$API_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$API_PORT/execution/"
# Shared secrets, new for each run and never written to disk: the JWT key signs the workers' Execution API tokens
# (scheduler) and checks them (API server); the Fernet key encrypts connections and variables in the metadata DB.
AIRFLOW__API_AUTH__JWT_SECRET="$(secret)"
AIRFLOW__API__SECRET_KEY="$(secret)"
AIRFLOW__CORE__FERNET_KEY="$("$BIN/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__API__SECRET_KEY AIRFLOW__CORE__FERNET_KEY

echo "==> migrating the Airflow metadata database ($META_DB)"
"$BIN/airflow" db migrate >"$LOGS/db-migrate.log" 2>&1 || { tail -20 "$LOGS/db-migrate.log"; die "airflow db migrate"; }
"$BIN/airflow" pools set psirf_warehouse "$POOL_SLOTS" \
  "Tasks that open the warehouse: 1 slot on DuckDB (single writer), more on PostgreSQL" \
  >>"$LOGS/db-migrate.log" 2>&1 || { tail -20 "$LOGS/db-migrate.log"; die "airflow pools set"; }
echo "    pool psirf_warehouse: $POOL_SLOTS slot(s)"

# --- 5. the components -----------------------------------------------------------------------------------------
echo "==> starting api-server (port $API_PORT), scheduler, dag-processor, ${WORKERS[*]} (logs: $LOGS/)"
start api-server "$BIN/airflow" api-server --port "$API_PORT" --host 127.0.0.1 --workers 1
start scheduler "$BIN/airflow" scheduler
start dag-processor "$BIN/airflow" dag-processor
# Two workers on one host need their own Celery names. Their task logs are files under $AIRFLOW_HOME/logs on this
# host, which the API server reads directly, so the workers' log servers (port 8793, all interfaces) stay off.
for w in "${WORKERS[@]}"; do
  start "$w" "$BIN/airflow" celery worker --celery-hostname "$w@%h" --concurrency 2 --skip-serve-logs
done

helper wait-http "http://127.0.0.1:$API_PORT/api/v2/monitor/health" --timeout 180 \
  || { tail -20 "$LOGS/api-server.log"; die "the API server did not start"; }
for w in "${WORKERS[@]}"; do
  helper wait-log "$LOGS/$w.log" "$w@\\S+ ready" --timeout 180 || { tail -20 "$LOGS/$w.log"; die "$w did not start"; }
done
helper wait-dags psirf_nightly psirf_system_report --timeout 240 \
  || { tail -20 "$LOGS/dag-processor.log"; die "the DAGs were not parsed"; }
echo "    all components up after $(elapsed)"

# --- 6. run: unpausing starts the schedule's latest run (catchup=False: exactly one); a manual trigger follows ----
# The manual run queues behind it (max_active_runs=1) and must find nothing new to load: a rerun is idempotent.
echo "==> unpausing psirf_system_report and psirf_nightly, triggering psirf_nightly"
RUN_ID="distributed__$(date -u +%Y%m%dT%H%M%S)"
{
  "$BIN/airflow" dags unpause psirf_system_report
  "$BIN/airflow" dags unpause psirf_nightly
  helper wait-run-created psirf_nightly --timeout 120
  "$BIN/airflow" dags trigger psirf_nightly --run-id "$RUN_ID"
} >"$LOGS/cli.log" 2>&1 || { tail -20 "$LOGS/cli.log"; die "unpausing or triggering psirf_nightly"; }
RUN_STARTED=$(date +%s)
echo "==> waiting for the psirf_nightly runs (timeout ${RUN_TIMEOUT} s)"
helper wait-runs psirf_nightly --timeout "$RUN_TIMEOUT"
NIGHTLY_SECONDS=$(( $(date +%s) - RUN_STARTED ))
echo "==> waiting for psirf_system_report (triggered by the marts asset that refresh_marts emits)"
helper wait-run-created psirf_system_report --timeout 120
helper wait-runs psirf_system_report --timeout 300

# --- 7. checks ---------------------------------------------------------------------------------------------------
PROVIDERS=$("$BIN/python" -c \
  'from psirf.registry import load_registry; print(",".join(p.ods_code for p in load_registry() if p.enabled))')
helper verify psirf_nightly psirf_system_report --providers "$PROVIDERS" \
  --worker "worker1=$LOGS/worker1.log" --worker "worker2=$LOGS/worker2.log"
REPORT=$(ls "$PSIRF_HOME"/reports/system/*/system_report.html 2>/dev/null | tail -1 || true)
[ -n "$REPORT" ] || die "psirf_system_report succeeded but wrote no report under $PSIRF_HOME/reports/system/"

echo "==> batch ledger and warehouse"
"$BIN/psirf" status --limit 20
echo
echo "Distributed run OK: psirf_nightly runs done in ${NIGHTLY_SECONDS} s (trigger to last run finished); $(elapsed) in all."
echo "Warehouse: ${PSIRF_WAREHOUSE_URL}   Metadata DB: $META_URL   Broker: $BROKER_URL"
echo "System report: $REPORT"
echo "Component logs: $LOGS/   Task logs: $AIRFLOW_HOME/logs/"
