"""Helpers for scripts/run_distributed.sh (`make distributed`): databases, waits and the final checks.

Each subcommand prints what it found and exits non-zero with one clear line when something is wrong. It reads the
Airflow metadata database from ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` and the warehouse from
``PSIRF_WAREHOUSE_URL``, as the Airflow components and the tasks do.

    recreate-dbs ADMIN_URL NAME...     drop (terminating sessions) and create empty PostgreSQL databases
    broker-reset URL QUEUE             check the Celery broker answers; drop messages a stopped run left in QUEUE
    free-ports N                       N free TCP ports on 127.0.0.1
    wait-http URL                      until URL answers 200
    wait-log FILE REGEX                until a line of FILE matches REGEX
    wait-dags DAG_ID...                until the dag-processor has stored every DAG
    wait-run-created DAG_ID            until DAG_ID has a run (the schedule's latest run, created on unpause)
    wait-runs DAG_ID...                until no run of these DAGs is queued or running; fails if one failed
    verify --worker NAME=LOG ...       the final checks: runs, pool, workers, warehouse ledger
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

EXPECTED_POOL = "psirf_warehouse"
CELERY_TASK_ID = re.compile(r"\[([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\] Executing workload")


class CheckFailed(Exception):
    """A check did not hold: the message says which and why."""


def _meta_conninfo() -> str:
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    return re.sub(r"^postgresql\+[a-z0-9]+://", "postgresql://", url)


def _meta_rows(query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(_meta_conninfo(), connect_timeout=10) as conn:
        return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]


def _wait(what: str, timeout: float, probe: Any, interval: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- setup ----------------------------------------------------------------------------------------------------

def recreate_dbs(admin_url: str, names: list[str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as admin:
        for name in names:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"    database {name}: dropped and created empty")


def broker_reset(url: str, queue: str) -> None:
    """Connect to the broker (Redis or RabbitMQ) and purge the deployment's own queue, so that a message left by an
    interrupted earlier run cannot reach this run's workers."""
    from kombu import Connection

    with Connection(url, connect_timeout=5) as conn:
        try:
            conn.ensure_connection(max_retries=2, interval_start=0.5)
        except Exception as exc:
            raise CheckFailed(f"the Celery broker at {conn.as_uri()} is not reachable: {exc}") from None
        try:
            dropped = conn.default_channel.queue_purge(queue) or 0
        except Exception:  # RabbitMQ: the queue does not exist yet
            dropped = 0
        print(f"    broker {conn.as_uri()}: reachable; queue {queue!r}: {dropped} stale message(s) dropped")


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (a local URL the script built)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _log_matches(path: Path, pattern: str) -> bool:
    try:
        return re.search(pattern, path.read_text(encoding="utf-8", errors="replace"), re.MULTILINE) is not None
    except FileNotFoundError:
        return False


def _dags_stored(dag_ids: list[str]) -> bool:
    rows = _meta_rows("SELECT dag_id FROM serialized_dag WHERE dag_id = ANY(%s)", (dag_ids,))
    return {r[0] for r in rows} >= set(dag_ids)


def _runs(dag_ids: Iterable[str]) -> list[tuple[str, str, str, str, Any, Any]]:
    return [tuple(r) for r in _meta_rows(  # type: ignore[misc]
        "SELECT dag_id, run_id, run_type, state, start_date, end_date FROM dag_run WHERE dag_id = ANY(%s) "
        "ORDER BY dag_id, start_date NULLS LAST, run_id", (list(dag_ids),))]


def wait_runs(dag_ids: list[str], timeout: float) -> None:
    """Until every run of the DAGs is finished; prints progress once a minute. Fails naming a failed run."""
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while True:
        runs = _runs(dag_ids)
        active = [r for r in runs if r[3] in ("queued", "running")]
        if runs and not active:
            break
        if time.monotonic() - last_report > 60:
            states = _meta_rows(
                "SELECT state, COUNT(*) FROM task_instance WHERE dag_id = ANY(%s) GROUP BY 1 ORDER BY 1", (dag_ids,))
            summary = ", ".join(f"{s or 'none'}={n}" for s, n in states) or "no task instances yet"
            print(f"    ... {len(active)} run(s) active; task instances: {summary}", flush=True)
            last_report = time.monotonic()
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s: still active: "
                              + ", ".join(f"{r[0]}/{r[1]} ({r[3]})" for r in active))
        time.sleep(3)
    for dag_id, run_id, run_type, state, start, end in runs:
        took = f"{(end - start).total_seconds():.0f} s" if start and end else "?"
        print(f"    {dag_id} {run_id} ({run_type}): {state} in {took}")
    failed = [r for r in runs if r[3] != "success"]
    if failed:
        tasks = _meta_rows(
            "SELECT dag_id, run_id, task_id, map_index, state FROM task_instance WHERE dag_id = ANY(%s) "
            "AND state IN ('failed', 'upstream_failed') ORDER BY 1, 2, 3, 4", (dag_ids,))
        for dag_id, run_id, task_id, map_index, state in tasks:
            print(f"    {state}: {dag_id}/{run_id}/{task_id}" + (f"[{map_index}]" if map_index >= 0 else ""))
        raise CheckFailed("run(s) did not succeed: " + ", ".join(f"{r[0]}/{r[1]} is {r[3]}" for r in failed)
                          + f" (task logs under {os.environ.get('AIRFLOW_HOME', '$AIRFLOW_HOME')}/logs/)")


# --- verification ---------------------------------------------------------------------------------------------

def attribute_to_workers(ti_celery_ids: Mapping[str, str | None],
                         worker_logs: Mapping[str, str]) -> dict[str, list[str]]:
    """Which worker ran which task instance: ``{worker: [task instance label]}``.

    ``ti_celery_ids`` maps a task instance label to the Celery task id the scheduler recorded for it
    (``task_instance.external_executor_id``); a worker's log names each Celery task id it executes
    (``[<id>] Executing workload in Celery``). A task instance found in no log, or in two, is a failed check.
    """
    seen = {worker: set(CELERY_TASK_ID.findall(text)) for worker, text in worker_logs.items()}
    by_worker: dict[str, list[str]] = {worker: [] for worker in worker_logs}
    problems = []
    for label, celery_id in sorted(ti_celery_ids.items()):
        ran_on = [worker for worker, ids in seen.items() if celery_id and celery_id in ids]
        if len(ran_on) != 1:
            problems.append(f"{label} (celery id {celery_id}) found in {len(ran_on)} worker logs")
            continue
        by_worker[ran_on[0]].append(label)
    if problems:
        raise CheckFailed("cannot attribute every task instance to one worker: " + "; ".join(problems[:5]))
    idle = [worker for worker, labels in by_worker.items() if not labels]
    if idle:
        raise CheckFailed(f"worker(s) {', '.join(idle)} ran no task: the run was not distributed")
    return by_worker


def _check_workers(dag_ids: list[str], worker_log_paths: dict[str, Path]) -> None:
    rows = _meta_rows(
        "SELECT dag_id, run_id, task_id, map_index, external_executor_id FROM task_instance "
        "WHERE dag_id = ANY(%s) AND state IS NOT NULL AND state NOT IN ('skipped', 'removed', 'upstream_failed')",
        (dag_ids,))
    tis = {f"{d}/{r}/{t}" + (f"[{m}]" if m >= 0 else ""): e for d, r, t, m, e in rows}
    logs = {w: p.read_text(encoding="utf-8", errors="replace") for w, p in worker_log_paths.items()}
    by_worker = attribute_to_workers(tis, logs)
    for worker, labels in by_worker.items():
        tasks = sorted({label.split("/", 2)[2].split("[")[0] for label in labels})
        print(f"    {worker}: {len(labels)} task instance(s) ({', '.join(tasks)})")


def _check_pool(dag_ids: list[str]) -> None:
    rows = _meta_rows("SELECT task_id, pool, COUNT(*) FROM task_instance WHERE dag_id = ANY(%s) GROUP BY 1, 2 "
                      "ORDER BY 1", (dag_ids,))
    in_pool = sorted({t for t, p, _ in rows if p == EXPECTED_POOL})
    if not in_pool:
        raise CheckFailed(f"no task instance ran in the pool {EXPECTED_POOL}")
    slots = _meta_rows("SELECT slots FROM slot_pool WHERE pool = %s", (EXPECTED_POOL,))
    print(f"    pool {EXPECTED_POOL} ({slots[0][0] if slots else '?'} slots): {', '.join(in_pool)}")


DUCKDB_LOCK_ERROR = re.compile(r"Could not set lock on file|Conflicting lock is held")


def _check_retries(dag_ids: list[str], task_log_dir: Path) -> None:
    """No task failed on the DuckDB file lock (the pool's job), and how many needed a retry for any reason."""
    locked = sorted(str(p.relative_to(task_log_dir)) for p in task_log_dir.rglob("*.log")
                    if DUCKDB_LOCK_ERROR.search(p.read_text(encoding="utf-8", errors="replace")))
    if locked:
        raise CheckFailed(f"{len(locked)} task attempt(s) failed on the DuckDB file lock: {locked[:3]}")
    retried = _meta_rows("SELECT dag_id, task_id, map_index, try_number FROM task_instance "
                         "WHERE dag_id = ANY(%s) AND try_number > 1 ORDER BY 1, 2, 3", (dag_ids,))
    print(f"    warehouse lock conflicts in task logs: 0; task instances retried: {len(retried)}"
          + "".join(f"\n      {d}/{t}" + (f"[{m}]" if m >= 0 else "") + f" (attempt {n})" for d, t, m, n in retried))


def _check_warehouse(expected_providers: list[str], airflow_runs: list[str]) -> dict[str, Any]:
    import sqlalchemy as sa

    from psirf.settings import warehouse_url
    from warehouse.db import make_engine

    engine = make_engine(warehouse_url())
    try:
        with engine.connect() as conn:
            ledger = conn.execute(sa.text(
                "SELECT run_id, provider_ods, entity, checksum, status, rows_in, loaded, quarantined, duplicates "
                "FROM batch_ledger")).all()
            incidents = dict(conn.execute(sa.text(  # type: ignore[arg-type]
                "SELECT provider_ods, COUNT(*) FROM incident GROUP BY provider_ods")).all())
    finally:
        engine.dispose()
    if not ledger:
        raise CheckFailed("the warehouse's batch ledger is empty: nothing was loaded")
    broken = [r for r in ledger if r.rows_in != r.loaded + r.quarantined + r.duplicates]
    if broken:
        raise CheckFailed("ledger identity rows_in = loaded + quarantined + duplicates fails for "
                          f"{len(broken)} batch(es)")
    rejected = [f"{r.provider_ods}/{r.entity}" for r in ledger if r.status != "loaded"]
    if rejected:
        raise CheckFailed(f"batch(es) not loaded: {', '.join(rejected)}")
    strangers = sorted({r.run_id for r in ledger} - set(airflow_runs))
    if strangers:
        raise CheckFailed(f"ledger rows from runs other than this deployment's: {strangers}")
    twice = [k for k in {(r.provider_ods, r.entity, r.checksum) for r in ledger}
             if sum(1 for r in ledger if (r.provider_ods, r.entity, r.checksum) == k) > 1]
    if twice:
        raise CheckFailed(f"{len(twice)} file(s) loaded twice (the rerun must skip them): {twice[:3]}")
    missing = sorted(set(expected_providers) - set(incidents))
    if missing:
        raise CheckFailed(f"no incidents in the warehouse for provider(s) {', '.join(missing)}")
    totals = {k: sum(getattr(r, k) for r in ledger) for k in ("rows_in", "loaded", "quarantined", "duplicates")}
    per_run = {run: sum(1 for r in ledger if r.run_id == run) for run in airflow_runs}
    print(f"    ledger: {len(ledger)} batches loaded from {len(incidents)} providers; rows_in={totals['rows_in']} = "
          f"loaded {totals['loaded']} + quarantined {totals['quarantined']} + duplicates {totals['duplicates']}")
    for run, n in per_run.items():
        print(f"    batches loaded by {run}: {n}")
    print(f"    incidents: {sum(incidents.values())} ({', '.join(f'{k} {v}' for k, v in sorted(incidents.items()))})")
    return {"batches": len(ledger), **totals, "per_run": per_run}


def verify(dag_ids: list[str], worker_log_paths: dict[str, Path], expected_providers: list[str]) -> None:
    runs = _runs(dag_ids)
    failed = [f"{r[0]}/{r[1]} is {r[3]}" for r in runs if r[3] != "success"]
    if failed or not runs:
        raise CheckFailed("runs did not all succeed: " + (", ".join(failed) or "no runs"))
    print("==> check: tasks ran on both Celery workers (task_instance.external_executor_id in each worker's log)")
    _check_workers(dag_ids, worker_log_paths)
    print("==> check: warehouse tasks ran in the pool; no task failed on a warehouse lock")
    _check_pool(dag_ids)
    _check_retries(dag_ids, Path(os.environ["AIRFLOW_HOME"]) / "logs")
    print("==> check: the warehouse holds every provider's data, the ledger identity holds, no file loaded twice")
    nightly = [r[1] for r in runs if r[0] == "psirf_nightly"]
    _check_warehouse(expected_providers, nightly)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("recreate-dbs")
    p.add_argument("admin_url")
    p.add_argument("names", nargs="+")
    p = sub.add_parser("broker-reset")
    p.add_argument("url")
    p.add_argument("queue")
    p = sub.add_parser("free-ports")
    p.add_argument("count", type=int)
    p = sub.add_parser("wait-http")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("wait-log")
    p.add_argument("file", type=Path)
    p.add_argument("pattern")
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("wait-dags")
    p.add_argument("dag_ids", nargs="+")
    p.add_argument("--timeout", type=float, default=180)
    p = sub.add_parser("wait-run-created")
    p.add_argument("dag_id")
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("wait-runs")
    p.add_argument("dag_ids", nargs="+")
    p.add_argument("--timeout", type=float, default=900)
    p = sub.add_parser("verify")
    p.add_argument("dag_ids", nargs="+")
    p.add_argument("--worker", action="append", required=True, metavar="NAME=LOG")
    p.add_argument("--providers", required=True, help="comma-separated ODS codes expected in the warehouse")
    args = parser.parse_args(argv)
    try:
        if args.command == "recreate-dbs":
            recreate_dbs(args.admin_url, args.names)
        elif args.command == "broker-reset":
            broker_reset(args.url, args.queue)
        elif args.command == "free-ports":
            print(" ".join(str(p) for p in free_ports(args.count)))
        elif args.command == "wait-http":
            _wait(f"{args.url} to answer", args.timeout, lambda: _http_ok(args.url), interval=1)
        elif args.command == "wait-log":
            _wait(f"/{args.pattern}/ in {args.file}", args.timeout, lambda: _log_matches(args.file, args.pattern),
                  interval=1)
        elif args.command == "wait-dags":
            _wait(f"the dag-processor to store {', '.join(args.dag_ids)}", args.timeout,
                  lambda: _dags_stored(args.dag_ids))
        elif args.command == "wait-run-created":
            _wait(f"the scheduler to create a run of {args.dag_id}", args.timeout, lambda: _runs([args.dag_id]))
        elif args.command == "wait-runs":
            wait_runs(args.dag_ids, args.timeout)
        elif args.command == "verify":
            workers = dict(w.split("=", 1) for w in args.worker)
            verify(args.dag_ids, {k: Path(v) for k, v in workers.items()}, args.providers.split(","))
    except CheckFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
