# Sourced by scripts/run_demo.sh (`make run`) and scripts/run_distributed.sh (`make distributed`): the demo's
# environment, its provider exports and the local provider API server. Not run on its own.
#
# The caller sets ROOT (the repository), BIN (.venv/bin), PSIRF_HOME and AIRFLOW_HOME before sourcing, and stops
# the API server with `demo_stop_mock_api` (usually from its EXIT trap).

export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export COLUMNS="${COLUMNS:-160}"
export GX_ANALYTICS_ENABLED=False
# Demo only: an obviously-named key, which the pipeline refuses unless demo mode is on (PSIRF_DEMO=1, set here
# because this data is generated). Production sets the key in the Airflow connection `psirf_pseudonymisation` (or
# PSIRF_PSEUDONYMISATION_KEY from a secret store), never in code, and never sets PSIRF_DEMO.
export PSIRF_DEMO=1
export PSIRF_PSEUDONYMISATION_KEY="${PSIRF_PSEUDONYMISATION_KEY:-DEMO-ONLY-pseudonymisation-key-do-not-use-in-production}"
mkdir -p "$PSIRF_HOME" "$AIRFLOW_HOME"

MOCK_PID=""

demo_generate_feeds() {
  echo "==> generating demo provider exports under $PSIRF_HOME/demo_feeds"
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$BIN/python" -m demo feeds
}

# Start `python -m demo mock-api` in the background and export PSIRF_CONN_R1L_API pointing at it (unless already set).
demo_start_mock_api() {
  echo "==> starting the local provider API server (serves the REST-based demo provider)"
  rm -f "$PSIRF_HOME/mock-api.port"
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$BIN/python" -m demo mock-api --port 0 --port-file "$PSIRF_HOME/mock-api.port" --feeds-dir "$PSIRF_HOME/demo_sources" \
    >"$PSIRF_HOME/mock-api.log" 2>&1 &
  MOCK_PID=$!
  for _ in $(seq 1 100); do [ -s "$PSIRF_HOME/mock-api.port" ] && break; sleep 0.2; done
  if [ ! -s "$PSIRF_HOME/mock-api.port" ]; then
    echo "the provider API server did not start:" >&2
    cat "$PSIRF_HOME/mock-api.log" >&2
    return 1
  fi
  # Demo only: the connection for R1L's API (production: an Airflow connection `r1l_api` in a secrets backend).
  export PSIRF_CONN_R1L_API="${PSIRF_CONN_R1L_API:-http://:demo-bearer-token@127.0.0.1:$(cat "$PSIRF_HOME/mock-api.port")/R1L/api}"
}

demo_stop_mock_api() {
  if [ -n "$MOCK_PID" ]; then
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=""
  fi
}
