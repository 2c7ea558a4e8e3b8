#!/usr/bin/env bash
# `make ui`: the Airflow UI (API server) on the demo's Airflow home, to read the runs and task logs of `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
export PSIRF_HOME="${PSIRF_HOME:-$ROOT/var}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PSIRF_HOME/airflow}"
PORT="${PSIRF_UI_PORT:-8080}"
export PSIRF_UI_PORT="$PORT"
# shellcheck source=scripts/demo_common.sh
. "$ROOT/scripts/demo_common.sh"
"$BIN/python" -m psirf.airflow_home config >/dev/null
"$BIN/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
echo "Airflow UI: http://127.0.0.1:$PORT  (Ctrl-C stops it)"
echo "Login: user admin; its password is in $PASSWORDS (Airflow writes it when the server first starts)"
[ -f "$AIRFLOW_HOME/dags-test.log" ] || echo "No run yet: run \`make run\` first, then reload the page."
exec "$BIN/airflow" api-server --host 127.0.0.1 --port "$PORT"
