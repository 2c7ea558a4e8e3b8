"""The analysts' warehouse is a dbt project (``warehouse/dbt``): how dbt reaches the warehouse and how it runs.

One setting, ``PSIRF_WAREHOUSE_URL``, serves the loader and dbt alike: :func:`target_for` turns it into the dbt
target (dbt-duckdb for a DuckDB file, dbt-postgres for PostgreSQL), with the password handed over in an
environment variable that dbt scrubs from its logs, never written to the profile on disk. The CLI
(:func:`build`), the bench and Airflow (astronomer-cosmos, :mod:`psirf.dbt_cosmos`) run the same project with
the same target; dbt's own files (manifest, run results, logs, docs) go to ``$PSIRF_HOME/dbt/``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from psirf import settings
from psirf.errors import PsirfError
from warehouse.db import release_dbt_duckdb
from warehouse.locks import marts_build_lock

__all__ = ["PROFILE_NAME", "PROJECT_DIR", "TARGET_NAME", "BuildResult", "DbtTarget", "build", "dbt_home",
           "invoke", "manifest_path", "parse_project", "target_for"]

PROJECT_DIR = Path(__file__).resolve().parent / "dbt"
PROFILE_NAME = "psirf"
TARGET_NAME = "warehouse"
PASSWORD_ENV = "DBT_ENV_SECRET_PSIRF_WAREHOUSE_PASSWORD"  # noqa: S105 - a variable name
"""dbt never prints the value of a variable whose name starts with DBT_ENV_SECRET_."""


class DbtError(PsirfError):
    """dbt could not run, or the build failed (a model or a test): the message names what failed."""


@dataclass(frozen=True)
class DbtTarget:
    """A dbt target for the warehouse: the ``outputs`` entry of profiles.yml, and the environment it reads."""

    output: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.output["type"])

    def profiles_yml(self) -> str:
        return yaml.safe_dump({PROFILE_NAME: {"target": TARGET_NAME, "outputs": {TARGET_NAME: self.output}}},
                              sort_keys=False)


def target_for(url: str | None = None, threads: int | None = None) -> DbtTarget:
    """The dbt target for a SQLAlchemy warehouse URL (default :func:`psirf.settings.warehouse_url`), running
    ``threads`` nodes at a time (default :func:`psirf.settings.dbt_threads`)."""
    from warehouse.db import duckdb_settings

    threads = threads or settings.dbt_threads()
    sa_url = make_url(url or settings.warehouse_url())
    backend = sa_url.get_backend_name()
    if backend == "duckdb":
        database = sa_url.database or ""
        if not database or database == ":memory:":
            raise DbtError("the dbt project needs a DuckDB file, not an in-memory database")
        return DbtTarget({"type": "duckdb", "path": str(Path(database).expanduser().resolve()), "schema": "main",
                          "threads": threads, "settings": duckdb_settings()})
    if backend == "postgresql":
        query = dict(sa_url.query)
        output: dict[str, Any] = {
            "type": "postgres", "host": sa_url.host or "localhost", "port": sa_url.port or 5432,
            "user": sa_url.username or os.environ.get("PGUSER", "postgres"),
            "password": "{{ env_var('" + PASSWORD_ENV + "', '') }}", "dbname": sa_url.database or "postgres",
            "schema": "public", "threads": threads, "connect_timeout": 10,
        }
        if "sslmode" in query:
            output["sslmode"] = str(query["sslmode"])
        # No JIT for dbt's sessions: at a million incidents nearly every model and test query costs more than
        # jit_above_cost, and compiling its expressions (0.5-1 s a query) costs more than the JIT saves in
        # queries that run a second or two. No parallel workers per query either: dbt already runs `threads`
        # queries at once, and a query's workers would compete with the other nodes for the same cores
        # (measured on 2 cores, 1M incidents: the nightly delta 29-32 s -> 25 s, the full build 68-73 s -> 64-65 s).
        # libpq reads PGOPTIONS, the caller's own last (they win); the loader's sessions are unaffected.
        options = f"-c jit=off -c max_parallel_workers_per_gather=0 {os.environ.get('PGOPTIONS', '')}".strip()
        return DbtTarget(output, {PASSWORD_ENV: sa_url.password or os.environ.get("PGPASSWORD", ""),
                                  "PGOPTIONS": options})
    raise DbtError(f"the warehouse URL names {backend!r}: the dbt project runs on DuckDB or PostgreSQL")


def dbt_home() -> Path:
    """Where dbt writes its manifest, run results, logs and docs: ``$PSIRF_HOME/dbt``."""
    return settings.psirf_home() / "dbt"


def manifest_path() -> Path:
    """The manifest Airflow's DAG lays the dbt tasks out from: ``warehouse/dbt/target/manifest.json``, next to the
    project it describes (written by :func:`parse_project`, which `psirf init` and `make venv` run)."""
    return PROJECT_DIR / "target" / "manifest.json"


def parse_project(url: str | None = None) -> Path:
    """``dbt parse`` into the project's own target folder: the manifest the DAG reads (no database is touched).

    dbt writes into a private folder first and the manifest is then renamed into place, so a DAG being parsed
    (or another parse running at the same time) never reads half a file."""
    import shutil
    import tempfile

    target = manifest_path().parent
    target.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".parse-", dir=target))
    try:
        result = invoke(["parse", "--target-path", str(scratch)], url)
        if not result.success or not (scratch / "manifest.json").is_file():
            raise DbtError(f"dbt parse failed (dbt log: {dbt_home() / 'logs' / 'dbt.log'})")
        os.replace(scratch / "manifest.json", manifest_path())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return manifest_path()


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class BuildResult:
    """What a dbt invocation did: one entry per node (model, seed, snapshot, test) with its status."""

    command: str
    success: bool
    nodes: list[dict[str, Any]]
    elapsed: float
    listed: list[str] = field(default_factory=list)
    """What ``dbt ls`` printed, one entry per selected node."""

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [n for n in self.nodes if n["status"] in ("error", "fail", "runtime error")]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for node in self.nodes:
            out[node["status"]] = out.get(node["status"], 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, "success": self.success, "elapsed_s": round(self.elapsed, 2),
                "counts": self.counts(), "failures": [{k: f[k] for k in ("name", "status", "message")}
                                                      for f in self.failures]}


def invoke(args: list[str], url: str | None = None, *, quiet: bool = True,
           on_node: Callable[[dict[str, Any]], None] | None = None) -> BuildResult:
    """Run one dbt command (``["build"]``, ``["docs", "generate"]`` …) in-process on the warehouse's target."""
    import shutil
    import tempfile
    import time

    from dbt.cli.main import dbtRunner

    target = target_for(url)
    home = dbt_home()
    # A private profiles folder per invocation: two processes sharing a PSIRF_HOME (two Airflow workers, two
    # operators) on different warehouses must never read each other's target.
    # The shared copy is for people running dbt by hand (README), replaced atomically.
    shared = home / "profiles"
    shared.mkdir(parents=True, exist_ok=True)
    profiles_dir = Path(tempfile.mkdtemp(prefix="run-", dir=shared))
    (profiles_dir / "profiles.yml").write_text(target.profiles_yml(), encoding="utf-8")
    os.replace(shutil.copy(profiles_dir / "profiles.yml", profiles_dir / "shared.yml"), shared / "profiles.yml")
    cli_args = [*args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(profiles_dir),
                "--log-path", str(home / "logs")]
    if "--target-path" not in args:
        cli_args += ["--target-path", str(home / "target")]
    if quiet:
        cli_args.insert(0, "--quiet")
    nodes: list[dict[str, Any]] = []

    def collect(event: Any) -> None:
        if event.info.name != "NodeFinished":
            return
        result = event.data.run_result
        node = {"name": event.data.node_info.node_name, "unique_id": event.data.node_info.unique_id,
                "resource_type": event.data.node_info.resource_type, "status": str(result.status),
                "message": result.message or "", "failures": int(result.num_failures or 0),
                "seconds": float(result.execution_time or 0.0)}
        nodes.append(node)
        if on_node is not None:
            on_node(node)

    started = time.monotonic()
    writes = args[0] in {"build", "run", "seed", "snapshot", "test"}  # a test records its passes (check_scope.sql)
    try:
        with (marts_build_lock(url or settings.warehouse_url()) if writes else contextlib.nullcontext()), \
                _environment({**target.env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DO_NOT_TRACK": "1"}):
            result = dbtRunner(callbacks=[collect]).invoke(cli_args)
    finally:
        shutil.rmtree(profiles_dir, ignore_errors=True)
    if target.type == "duckdb":
        release_dbt_duckdb()
    if result.exception is not None:
        raise DbtError(f"dbt {' '.join(args)} could not run: {result.exception}") from None
    _name_failing_columns(nodes, result.result, url)
    listed = [str(line) for line in result.result] if isinstance(result.result, list) else []
    return BuildResult(" ".join(args), bool(result.success), nodes, time.monotonic() - started, listed)


CONSOLIDATED_TESTS = ("column_checks_", "relationship_checks_")
"""Tests that run a model's per-column tests in one query (warehouse/dbt/macros/column_checks.sql)."""


def _name_failing_columns(nodes: list[dict[str, Any]], run_result: Any, url: str | None) -> None:
    """A failed column_checks or relationship_checks test says only how many of its rules failed: run its compiled
    query again and add which per-column tests failed (test, column, rule, offending rows) to its message."""
    failed = {n["unique_id"]: n for n in nodes if n["status"] in ("fail", "warn")
              and n["resource_type"] == "test" and n["name"].startswith(CONSOLIDATED_TESTS)}
    if not failed:
        return
    from warehouse.db import make_engine

    compiled = {r.node.unique_id: r.node.compiled_code for r in getattr(run_result, "results", None) or []
                if r.node.unique_id in failed and getattr(r.node, "compiled_code", None)}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            for unique_id, sql in compiled.items():
                rows = conn.exec_driver_sql(sql).all()
                details = "; ".join(f"{test} ({column}: {rule}, {count} rows)" for test, column, rule, count in rows)
                node = failed[unique_id]
                node["message"] = f"{node['message']}: {details}" if details else node["message"]
    finally:
        engine.dispose()


FULL_CHECKS = ["--vars", "{checks: full}"]
"""dbt arguments that make every check read every row (macros/check_scope.sql); nightly, they read what changed."""


def build(url: str | None = None, *, full_refresh: bool = False, select: str | None = None, tests: bool = True,
          full_checks: bool = False, on_node: Callable[[dict[str, Any]], None] | None = None) -> BuildResult:
    """``dbt build``: seeds, the organisation snapshot, every model (facts incrementally) and, unless ``tests`` is
    false, every test: over the rows changed since each test's last pass, or every row with ``full_checks`` (as on
    a full refresh, and weekly by itself)."""
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if full_checks:
        args += FULL_CHECKS
    if select:
        args += ["--select", select]
    if not tests:
        args += ["--exclude-resource-type", "test"]
    return invoke(args, url, on_node=on_node)
