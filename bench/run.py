"""``make bench``: the real pipeline, stage by stage, on generated data, on DuckDB and on PostgreSQL.

    python -m bench.run --rows 100000 [--engines duckdb,postgresql] [--delta 5000] [--out docs/benchmarks.md]

The parent generates the feed once (``bench.generate``) and runs every measurement in a fresh child process, so
that each run's peak memory (``ru_maxrss``) is its own:

* ``pipeline`` child: migrate, then for every provider the same calls as ``psirf.pipeline.run_provider`` —
  ``extract_provider`` → ``process_batch`` (read, canonicalise, validate with GX, data-quality assessment and
  staging; each sub-step timed by wrapping the functions the pipeline calls) → ``load_processed`` — then
  ``warehouse.marts.refresh`` (the dbt build, with its tests); then the nightly delta (changed records in new
  export files) through the same stages.
* ``raw`` child: the canonical frames exactly as the load stage stages them (``_for_load`` + ``_prepare``), ingested
  the fastest plain way: PostgreSQL ``COPY ... FROM STDIN (FORMAT csv)``, DuckDB ``INSERT ... SELECT`` from the
  registered frame. The load stage's time is reported as a ratio to it.

Results of every size are kept in a JSON comment inside the output file, so a 1M run adds to a 100k run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"
KEY = "BENCH-ONLY-pseudonymisation-key-not-for-real-data-0123456789"
RESULTS_RE = re.compile(r"<!-- bench-results\n(.*?)\n-->", re.S)
PEERS_RE = re.compile(r"<!-- bench-peers:start -->.*?<!-- bench-peers:end -->\n?", re.S)  # make bench-peers


def peak_mib(pool: Any = None) -> float:
    """Peak resident memory of the run: this process's own peak when it transforms alone; with worker processes
    (``pool``), the largest sum of this process's and its workers' resident memory seen by :class:`MemorySampler`
    (sampled every 50 ms), which is what the run held at once. Linux, MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB
    return max(own, SAMPLER.peak_kib / 1024) if pool is not None and SAMPLER is not None else own


class MemorySampler:
    """The largest total resident memory of this process and its worker processes, sampled in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.peak_kib = 0
        self.pids = pids
        threading.Thread(target=self._run, daemon=True, name="bench-memory").start()

    @staticmethod
    def _rss_kib(pid: int) -> int:
        with contextlib.suppress(OSError, AttributeError):
            status = Path(f"/proc/{pid}/status").read_text()
            return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return 0

    def _run(self) -> None:
        while True:
            total = self._rss_kib(os.getpid()) + sum(self._rss_kib(pid) for pid in list(self.pids))
            self.peak_kib = max(self.peak_kib, total)
            time.sleep(0.05)


SAMPLER: MemorySampler | None = None


# --- child: the pipeline ---------------------------------------------------------------------------------------


class Timers:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def time(self, name: str):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def wrap(self, module: Any, attr: str, name: str) -> None:
        original: Callable[..., Any] = getattr(module, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.time(name):
                return original(*args, **kwargs)

        setattr(module, attr, timed)

    def wrap_iter(self, module: Any, attr: str, name: str) -> None:
        """Time a generator function: the time spent producing each item (e.g. reading each chunk of a file)."""
        original: Callable[..., Any] = getattr(module, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            items = original(*args, **kwargs)
            while True:
                with self.time(name):
                    try:
                        item = next(items)
                    except StopIteration:
                        return
                yield item

        setattr(module, attr, timed)


TIMINGS_ENV = "PSIRF_BENCH_TIMINGS"
"""Folder where each transforming worker process writes its stage timings (one JSON file per process)."""


def _stage_timers() -> Timers:
    """Timers around the functions the transform calls, in whichever process transforms (the bench's own, or a
    worker of :func:`psirf.parallel.run_providers`)."""
    import psirf.chunked as chunked
    from connectors.registry import FAMILIES

    timers = Timers()
    for family in FAMILIES.values():  # every family's reader, timed as "read"
        timers.wrap_iter(family, "iter_chunks", "read")
    timers.wrap(chunked, "canonicalise", "canonicalise")
    timers.wrap(chunked, "validate_tables", "validate")  # the GX suites, once per batch and table
    timers.wrap(chunked, "validate", "validate")  # each chunk split with the batch's results
    return timers


def worker_init() -> None:
    """A transforming worker: warmed up like the product's, its stage timers written after every batch."""
    import psirf.pipeline as pipeline
    from psirf.parallel import warm_up as product_warm_up

    product_warm_up()
    timers = _stage_timers()
    process = pipeline.process_batch
    out = Path(os.environ[TIMINGS_ENV]) / f"{os.getpid()}.json"

    def timed(*args: Any, **kwargs: Any) -> Any:
        before = dict(timers.seconds)
        with timers.time("process"):
            result = process(*args, **kwargs)
        spent = {k: v - before.get(k, 0.0) for k, v in timers.seconds.items()}
        with out.open("a", encoding="utf-8") as fh:  # this batch's stages, one line each: the parent sums them
            fh.write(json.dumps(spent) + "\n")
        return result

    pipeline.process_batch = timed  # type: ignore[assignment]


def _worker_timings(folder: Path) -> dict[str, float]:
    """The workers' stage seconds, summed over the workers (busy time: more than the wall when they overlap)."""
    total: dict[str, float] = defaultdict(float)
    for path in folder.glob("*.json"):
        for line in path.read_text(encoding="utf-8").splitlines():
            for stage, seconds in json.loads(line).items():
                total[stage] += seconds
        path.unlink()
    return total


def _run_batches(ods_list: list[str], engine: Any, timers: Timers, prefix: str, keep: Path | None,
                 counts: dict[str, int], workers: int, pool: Any) -> None:
    """Every provider through :func:`psirf.parallel.run_providers` (what ``psirf run`` calls): extracted and
    loaded here, transformed in ``workers`` processes (``pool``, started before the timing; here when 1)."""
    import psirf.pipeline as pipeline
    from psirf.parallel import run_providers

    folder = Path(os.environ[TIMINGS_ENV])
    extract, load = pipeline.extract_provider, pipeline.load_processed

    def timed_extract(*args: Any, **kwargs: Any) -> Any:
        with timers.time(f"{prefix}extract"):
            return extract(*args, **kwargs)

    def timed_load(processed: dict[str, Any], **kwargs: Any) -> Any:
        counts[f"{prefix}rows_in"] += int(processed.get("rows_in") or 0)
        counts[f"{prefix}rows_in_{processed['entity']}"] += int(processed.get("rows_in") or 0)
        if keep is not None and processed.get("work_dir") and processed["status"] == "processed":
            with timers.time("untimed"):  # a copy for the raw baseline: not the pipeline's work
                shutil.copytree(processed["work_dir"], keep / processed["batch_id"])
        with timers.time(f"{prefix}load"):
            result = load(processed, **kwargs)
        for k in ("loaded", "quarantined", "duplicates", "inserted", "updated", "unchanged"):
            counts[f"{prefix}{k}"] += int(result.get(k) or 0)
        return result

    pipeline.extract_provider, pipeline.load_processed = timed_extract, timed_load  # type: ignore[assignment]
    try:
        outcome = run_providers(ods_list, engine=engine, size=workers, pool=pool)
    finally:
        pipeline.extract_provider, pipeline.load_processed = extract, load  # type: ignore[assignment]
    failed = {code: result for code, result in outcome.items() if isinstance(result, BaseException)}
    if failed:
        raise RuntimeError(f"providers failed: {failed}")
    for stage, seconds in _worker_timings(folder).items():
        timers.seconds[f"{prefix}{stage}"] += seconds


def warm_up() -> float:
    """Import what a worker process imports once (GX and its contexts and suites, dbt, Arrow, DuckDB, the
    pipeline) before the timed region: a nightly run pays it once per process, whatever the data's size. Returns
    the seconds it took, reported apart from the work."""
    start = time.perf_counter()
    import dbt.cli.main  # noqa: F401 - imported for its cost
    import pyarrow.csv  # noqa: F401

    import psirf.pipeline  # noqa: F401
    from expectations.canonical_suites import SUITES, _sql_source, build_suite, context

    context()
    _sql_source()
    for table in SUITES:
        for patient_level in (False, True):
            build_suite(table, patient_level)
    return time.perf_counter() - start


def child_pipeline(url: str, home: Path, delta: int) -> dict[str, Any]:
    from bench.generate import generate_delta, providers
    from psirf.parallel import workers as configured_workers
    from warehouse.db import make_engine
    from warehouse.marts import publish
    from warehouse.migrate import upgrade
    from warehouse.reference import seed_organisations

    imports = warm_up()
    workers = configured_workers()  # PSIRF_WORKERS, as `psirf run` reads it
    from warehouse.dbt_project import DbtError, build

    def marts(full: bool) -> dict[str, Any]:
        result = build(engine.url.render_as_string(hide_password=False), full_refresh=full)
        if not result.success:
            raise DbtError(f"the marts build failed: {result.failures[:3]}")
        return result.as_dict()

    timers = _stage_timers()  # the transform's stages, when it runs in this process (workers == 1)
    os.environ[TIMINGS_ENV] = str(home / "timings")
    (home / "timings").mkdir(exist_ok=True)

    def timed_process(*args: Any, **kwargs: Any) -> Any:
        with timers.time("process"):
            return plain_process(*args, **kwargs)

    import psirf.pipeline as pipeline

    plain_process = pipeline.process_batch
    if workers <= 1:
        pipeline.process_batch = timed_process  # type: ignore[assignment]
    counts: dict[str, int] = defaultdict(int)
    ods_list = [p.ods_code for p in providers(home)]
    keep = home / "raw_frames"
    keep.mkdir(exist_ok=True)
    with timers.time("migrate"):
        upgrade(url)
    engine = make_engine(url)
    seed_organisations(engine, providers(home))  # as `psirf init` does: the providers are known organisations
    wall = time.perf_counter()
    pool = None
    if workers > 1:  # started and warmed up outside the timed region, as its imports are
        from psirf.parallel import start_pool

        started = time.perf_counter()
        pool = start_pool(workers, worker_init)
        global SAMPLER
        SAMPLER = MemorySampler(list(pool._processes))
        imports += time.perf_counter() - started
    _run_batches(ods_list, engine, timers, "", keep, counts, workers, pool)
    os.environ["PSIRF_MARTS_LOOKBACK_SECONDS"] = "0"  # one process, one clock: no skew margin needed
    engine.dispose()  # dbt opens the DuckDB file itself
    with timers.time("marts"):
        built = marts(full=True)  # dbt build: every model and every test
    full_wall = time.perf_counter() - wall - timers.seconds.pop("untimed", 0.0)  # extract → marts
    with timers.time("publish"):  # after the marts, timed apart: the analysts' copy, not the pipeline's work
        publish(engine)
    full_peak = peak_mib(pool)
    full = dict(timers.seconds)
    if delta <= 0:  # the full load only (bench.peers runs it so)
        engine.dispose()
        if pool is not None:
            pool.shutdown()
        return {"seconds": full, "delta_seconds": {}, "counts": dict(counts), "wall": full_wall, "delta_wall": 0.0,
                "peak_mib_full": full_peak, "peak_mib": full_peak, "marts_nodes": built.get("counts"),
                "import_seconds": imports}
    # the nightly delta: changed records in new export files, through the same stages, then an incremental refresh
    generate_delta(home, delta)
    timers.seconds.clear()
    wall = time.perf_counter()
    _run_batches(ods_list, engine, timers, "delta_", None, counts, workers, pool)
    engine.dispose()
    with timers.time("delta_marts"):
        delta_built = marts(full=False)  # incremental facts, every test
    delta_wall = time.perf_counter() - wall
    with timers.time("delta_publish"):
        publish(engine)
    delta_times = {k if k.startswith("delta_") else f"delta_{k}": v for k, v in timers.seconds.items()}
    engine.dispose()
    peak = peak_mib(pool)
    if pool is not None:
        pool.shutdown()
    return {"seconds": full, "delta_seconds": delta_times, "counts": dict(counts), "wall": full_wall,
            "delta_wall": delta_wall, "peak_mib_full": full_peak, "peak_mib": peak, "workers": workers,
            "marts_nodes": built.get("counts"), "delta_marts_seconds": delta_built.get("elapsed_s"),
            "import_seconds": imports}


# --- child: the raw bulk-ingestion baseline --------------------------------------------------------------------


def _frames(keep: Path) -> list[tuple[Any, Any]]:
    import pandas as pd

    from psirf.chunked import part_files, staged_tables
    from warehouse.load import _as_dates, _prepare
    from warehouse.models import CANONICAL_TABLES

    out = []
    for batch in sorted(keep.iterdir()):
        for name in staged_tables(batch):
            if name in CANONICAL_TABLES:
                table = CANONICAL_TABLES[name]
                frames = [pd.read_parquet(p) for p in part_files(batch, name)]
                frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
                out.append((table, _prepare(_as_dates(frame, table), table)))
    return out


def child_raw(url: str, home: Path) -> dict[str, Any]:
    import sqlalchemy as sa

    from warehouse.db import is_duckdb, make_engine

    frames = _frames(home / "raw_frames")
    rows = sum(len(f) for _, f in frames)
    engine = make_engine(url)
    seconds = 0.0
    with engine.begin() as conn:
        q = conn.dialect.identifier_preparer.quote
        names = sorted({t.name for t, _ in frames})
        for name in names:  # empty copies of the canonical tables, created outside the timing
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS raw_{name}")
            if is_duckdb(conn):
                conn.exec_driver_sql(f"CREATE TABLE raw_{name} AS SELECT * FROM {q(name)} LIMIT 0")
            else:
                conn.exec_driver_sql(f"CREATE TABLE raw_{name} (LIKE {q(name)} INCLUDING DEFAULTS)")
            staged = next(f for t, f in frames if t.name == name).columns
            for column in [c.name for c in next(t for t, _ in frames if t.name == name).columns]:
                if column not in staged:  # set by the merge, not staged (e.g. loaded_at)
                    conn.exec_driver_sql(f"ALTER TABLE raw_{name} DROP COLUMN {q(column)}")
    for table, frame in frames:  # one committed transaction per frame, as the pipeline commits each batch
        start = time.perf_counter()
        with engine.begin() as conn:
            q = conn.dialect.identifier_preparer.quote
            cols = ", ".join(q(c) for c in frame.columns)
            raw = conn.connection.driver_connection
            if is_duckdb(conn):
                casts = ", ".join(f"CAST({q(c)} AS {table.c[c].type.compile(dialect=conn.dialect)})"
                                  for c in frame.columns)
                raw.register("bench_frame", frame)  # type: ignore[union-attr]
                conn.exec_driver_sql(f"INSERT INTO raw_{table.name} ({cols}) SELECT {casts} FROM bench_frame")
                raw.unregister("bench_frame")  # type: ignore[union-attr]
            else:
                buffer = io.StringIO()
                frame.to_csv(buffer, index=False, header=False)
                with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                        f"COPY raw_{table.name} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                    copy.write(buffer.getvalue())
        seconds += time.perf_counter() - start
    with engine.begin() as conn:
        for name in names:
            conn.execute(sa.text(f"DROP TABLE raw_{name}"))
    engine.dispose()
    return {"raw_seconds": seconds, "raw_rows": rows, "peak_mib": peak_mib()}


# --- the report ----------------------------------------------------------------------------------------------

STAGES = [("extract", "extract (find new files, checksums)", "rows_in"),
          ("read", "  read (Arrow CSV parser / LFPSE reader, encoding)", "rows_in"),
          ("canonicalise", "  transform (map, pseudonymise, keys, redact)", "rows_in"),
          ("validate", "  validate (GX suites once per batch on DuckDB, quarantine split)", "rows_in"),
          ("process_rest", "  DQ assessment + staging to parquet", "rows_in"),
          ("process", "transform + validate, total (`process_batch`)", "rows_in"),
          ("load", "load (`load_processed`: stage, merge, quarantine, ledger)", "loaded"),
          ("marts", "marts: `dbt build` of every model and test", "loaded"),
          ("publish", "publish, after the wall (access control / read-only copy for BI tools)", "loaded")]


def _fmt_rate(rows: float, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "–"


def _stage_rows(run: dict[str, Any], prefix: str = "") -> list[tuple[str, float, int]]:
    secs = run["delta_seconds" if prefix else "seconds"]
    counts = run["counts"]
    out = []
    for key, label, count in STAGES:
        if key == "process_rest":
            value = secs.get(f"{prefix}process", 0) - sum(secs.get(f"{prefix}{k}", 0)
                                                         for k in ("read", "canonicalise", "validate"))
        else:
            value = secs.get(f"{prefix}{key}", 0.0)
        out.append((label, value, int(counts.get(f"{prefix}{count}", 0))))
    return out


INTRO = """What runs: the real pipeline, on a deterministic feed (`bench/generate.py`): the five Essex trusts as Datix
CSV exports (95% of the incidents; realistic free text, planted defects and duplicates; about 1.5 safety actions
per incident) and GP practices as an LFPSE FHIR NDJSON export (5%, a row per patient), through
`psirf.parallel.run_providers`, what `psirf run` calls: every provider's batches transformed in `PSIRF_WORKERS`
processes (the cores, up to 4: 2 here) and loaded one at a time in order; then `dbt build` (every model and check).
The wall time is extract → marts; publishing (the analysts' DuckDB copy, access control) follows, timed apart.
Imports, Great Expectations' contexts and suites and the worker processes are started before the timed region and
reported apart (a nightly run pays them once per process). Each engine runs in rounds,
interleaved with the other engine, each a fresh child process on a fresh warehouse; every figure is the median over
the rounds, and the wall times' spread says how far the furthest round was from it. The transform's stages are
summed over the workers (busy seconds: more than the wall they overlap in). *Peak memory* is the child's own peak
plus each worker's (an upper bound). *Raw bulk ingestion* takes the canonical frames the load stage stages and
ingests them the plainest way (PostgreSQL `COPY` from `DataFrame.to_csv`; DuckDB `INSERT … SELECT` from the frame)
into empty copies of the tables without keys, a frame per transaction. The *nightly delta* is a new export file per
provider holding existing incident records with an edited narrative and a later “last updated” stamp, loaded on top
of the full warehouse, then an incremental marts build."""


def render(results: dict[str, Any]) -> str:
    lines = ["# Benchmarks", "",
             "Generated by `make bench` (`python -m bench.run --rows N`: `bench/run.py`, data from",
             "`bench/generate.py`).",
             "Do not edit by hand: rerun the benchmark. Each size's figures are kept until that size is rerun.", "",
             *INTRO.splitlines(), ""]
    for size in sorted(results, key=int):
        entry = results[size]
        lines += [f"## {int(size):,} incidents", "",
                  f"Measured {entry['measured_at']} on {entry['machine']}; "
                  + (f"feed generated in {entry['generated_seconds']:.0f} s." if entry["generated_seconds"] >= 1
                     else "feed reused from an earlier run of the same size (same seed).")
                  + (f" {entry['note']}" if entry.get("note") else "")
                  + f" Rounds: {entry.get('rounds', 1)}.", ""]
        runs = entry["runs"]
        names = list(runs)
        c0 = runs[names[0]]["counts"]
        lines += [f"Rows read: {c0.get('rows_in', 0):,} (incidents {c0.get('rows_in_incidents', 0):,}, safety actions "
                  f"{c0.get('rows_in_safety_actions', 0):,}); loaded {c0.get('loaded', 0):,}, quarantined "
                  f"{c0.get('quarantined', 0):,}, duplicates {c0.get('duplicates', 0):,}.", ""]
        header = "| stage | rows | " + " | ".join(f"{n} s | {n} rows/s" for n in names) + " |"
        lines += ["### Full load, stage by stage", "", header, "|---|---:|" + "---:|---:|" * len(names)]
        per = {n: _stage_rows(runs[n]) for n in names}
        for i, (label, _, rows) in enumerate(per[names[0]]):
            cells = " | ".join(f"{per[n][i][1]:.1f} | {_fmt_rate(per[n][i][2], per[n][i][1])}" for n in names)
            lines.append(f"| {label} | {rows:,} | {cells} |")
        lines.append("| imports, once per process (not in the wall) | | " + " | ".join(
            f"{runs[n].get('import_seconds', 0):.1f} | " for n in names) + " |")
        lines.append("| **wall time, extract → marts** | | " + " | ".join(
            f"**{runs[n]['wall']:.1f}** | {_fmt_rate(runs[n]['counts'].get('rows_in', 0), runs[n]['wall'])}"
            for n in names) + " |")
        lines += ["", "### Against raw bulk ingestion, memory, nightly delta", "",
                  "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

        def row(label: str, fn: Callable[[dict[str, Any]], str], lines: list[str] = lines,
                runs: dict[str, Any] = runs, names: list[str] = names) -> None:
            lines.append(f"| {label} | " + " | ".join(fn(runs[n]) for n in names) + " |")

        row("raw bulk ingestion of the loaded canonical rows (s)",
            lambda r: f"{r['raw']['raw_seconds']:.1f} ({r['raw']['raw_rows']:,} rows, "
                      f"{_fmt_rate(r['raw']['raw_rows'], r['raw']['raw_seconds'])} rows/s)")
        row("pipeline load stage (s)", lambda r: f"{r['seconds'].get('load', 0):.1f}")
        row("**load / raw** (target ≤ 1.5×)",
            lambda r: f"**{r['seconds'].get('load', 0) / r['raw']['raw_seconds']:.1f}×**")
        row("peak memory after the full load (MiB)", lambda r: f"{r['peak_mib_full']:,.0f}")
        row("peak memory incl. the delta (MiB)", lambda r: f"{r['peak_mib']:,.0f}")
        row(f"nightly delta: {entry['delta']:,} changed incidents, extract → marts (s)",
            lambda r: f"**{r['delta_wall']:.1f}**")
        row("  of which extract / transform+validate (busy s, summed over workers) / load / marts (s)",
            lambda r: " / ".join(f"{r['delta_seconds'].get('delta_' + k, 0):.1f}"
                                 for k in ("extract", "process", "load", "marts")))
        row("  then publish, not in the wall (s)", lambda r: f"{r['delta_seconds'].get('delta_publish', 0):.1f}")
        row("  delta rows: updated / unchanged / inserted",
            lambda r: f"{r['counts'].get('delta_updated', 0):,} / {r['counts'].get('delta_unchanged', 0):,} / "
                      f"{r['counts'].get('delta_inserted', 0):,}")
        row("full load, extract → marts (s)", lambda r: f"{r['wall']:.1f}")
        row("delta / full", lambda r: f"{r['delta_wall'] / r['wall']:.3f}")
        lines.append("")
    return "\n".join(lines + _targets(results) + NOTES)


def _targets(results: dict[str, Any]) -> list[str]:
    """The issue's targets against the largest and smallest sizes measured (100k and 1M when both are there)."""
    sizes = sorted(results, key=int)
    if not sizes:
        return []
    small, large = results[sizes[0]]["runs"], results[sizes[-1]]["runs"]
    big = f"{int(sizes[-1]):,}"
    lines = ["## Against the targets", "",
             f"Largest size measured: {big} incidents; memory growth is against {int(sizes[0]):,}.", "",
             "| target | " + " | ".join(large) + " |", "|---|" + "---:|" * len(large)]

    def row(label: str, fn: Callable[[str, dict[str, Any]], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(n, r) for n, r in large.items()) + " |")

    def mark(ok: bool) -> str:
        return "met" if ok else "**not met**"

    limits = {"duckdb": 150, "postgresql": 240}
    row(f"{big} incidents extract → marts under 2.5 min (DuckDB) / 4 min (PostgreSQL)", lambda n, r: (
        f"{r['wall'] / 60:.2f} min — {mark(r['wall'] < limits.get(n, 0))}" if int(sizes[-1]) >= 1_000_000 else
        "not measured at 1M yet"))
    row("peak memory under 1.5 GB (1,536 MiB)", lambda n, r: (
        f"{r['peak_mib']:,.0f} MiB — {mark(r['peak_mib'] < 1536)}"))
    row(f"peak memory grows less than 25% from {int(sizes[0]):,}", lambda n, r: (
        f"{r['peak_mib']:,.0f} vs {small[n]['peak_mib']:,.0f} MiB ({r['peak_mib'] / small[n]['peak_mib'] - 1:+.0%})"
        f" — {mark(r['peak_mib'] < 1.25 * small[n]['peak_mib'])}" if n in small and len(sizes) > 1 else "–"))
    row(f"nightly delta of {results[sizes[-1]]['delta']:,} records on top of {big}, extract → marts, under 10 s",
        lambda n, r: f"{r['delta_wall']:.1f} s — {mark(r['delta_wall'] < 10)}")
    row("the same delta including the marts under 30 s (issue 10)",
        lambda n, r: f"{r['delta_wall']:.1f} s — {mark(r['delta_wall'] < 30)}")
    row("load stage against the bulk ingestion of the same canonical rows (no target; issue 6 asked ≤ 1.5×)",
        lambda n, r: f"{r['seconds'].get('load', 0) / r['raw']['raw_seconds']:.1f}×")
    def spreads(r: dict[str, Any]) -> list[float]:
        return [r.get("rounds", {}).get(k, {}).get("spread", 1.0) for k in ("wall", "delta_wall")]

    def reproducible(r: dict[str, Any]) -> str:
        if len(r.get("rounds", {}).get("wall", {}).get("values", [])) < 2:
            return "one round — not assessed at this size"
        return " / ".join(f"{v:.0%}" for v in spreads(r)) + f" — {mark(max(spreads(r)) <= 0.10)}"

    row("wall times reproducible within 10% (largest round's distance from the median: full / delta)",
        lambda n, r: reproducible(r))
    lines += ["", "The ratios against dlt, pandas and the raw limit (load stage within 2× of the raw limit, within 3× "
              "of dlt's arrow merge, 3× faster than its dict path) are measured by `make bench-peers`: see its "
              "section below."]
    lines.append("")
    return lines


NOTES = """## How the pipeline gets these figures, and what is left

* **One pass over each file** (`connectors/csv_drop/reader.py`, `psirf/chunked.py`): after the strict encoding
  sniff (`connectors/encoding.py`), CSV exports are parsed by pyarrow's streaming CSV reader in record batches
  (Windows-1252 and UTF-16 transcoded in the same stream); spreadsheet row numbers, quoted multi-line fields and
  ragged rows (quarantined with their row numbers) are as before, proven by a differential property test against
  the old `csv.reader` path (`tests/test_csv_reader_equivalence.py`). There is no survey pass: duplicate and
  conflicting record ids across chunks are tracked as the chunks go, and the rare chunk that a later one
  contradicts is redone. Each `PSIRF_CHUNK_ROWS` (25,000) chunk is staged as parquet.
* **Column-wise transforms** (`transforms/`): mapping, dates, keys and content hashes in Arrow compute; keys are
  joined column-wise and hashed once per row; one HMAC per distinct NHS number; free-text redaction runs its
  combined patterns only on values an RE2 pre-filter (run natively by Arrow, a proven superset) says could hold an
  identifier.
* **Great Expectations once per batch, not per chunk** (`expectations/canonical_suites.py`): the canonical suites
  run through GX 1.x's SQL execution engine on an in-memory DuckDB over the batch's staged parquet, so GX's fixed
  cost (metric graph, pydantic, `deepcopy` of configurations: about 0.25–0.35 s a suite) is paid per batch;
  `unexpected_index_column_names` returns the rows to quarantine. GX, its contexts and the suites are built once
  per worker process, before the timed region (the *imports* row). Quarantine rows, rule counts and every
  warehouse table are identical to before on the demo estate and a bench feed (`tests/test_outputs_unchanged.py`
  compares row digests on both engines).
* **Workers** (`psirf/parallel.py`): `psirf run` (and this bench) transforms every provider's batches in
  `PSIRF_WORKERS` processes while the parent loads the finished ones in order; in Airflow the providers'
  `transform_validate` tasks do the same across worker slots. Two workers on two cores cut the 100k wall by about a
  third against one (51.6 s sequential on DuckDB) and roughly double the summed peak memory.
* **Load** (`warehouse/load.py`): DuckDB reads the parquet parts natively into a temporary table, inserts the new
  keys with an anti-join and updates the changed ones with `UPDATE … FROM` (the key index is probed once);
  PostgreSQL gets `COPY` straight from Arrow's CSV writer into an unlogged staging table, then one set-based
  merge per table. One transaction per batch, newest source update wins, exact counts.
* **Marts** (`warehouse/dbt/`): `dbt build` with the nightly selector; facts are incremental on a watermark, an
  `on-run-start` `ANALYZE` and JIT off keep PostgreSQL's plans sane, column checks are consolidated into few
  queries, and a nightly check reads only the rows changed since its last pass (the full build checks every row).

### Why some targets are not met

* **Noise.** This is a shared 2-core virtual machine whose speed drifts by up to a factor of two between
  sessions: the same raw `read_csv` ingestion of the 1M canonical rows took 15.4 s in one session and 7.5 s in the
  session that measured the 1M figures above, and the 100k rounds of one run spread by up to 18%. Compare the
  peers' ratios (interleaved, so both sides see the same machine) and figures taken in the same run, rather than
  absolute seconds across runs.
* **Within 3× of dlt's arrow merge, 3× faster than its dict path (100k, `make bench-peers` below).** dlt's arrow
  path hands pyarrow's inferred tables to the engine; the pipeline, per row, maps codes, parses dates, computes keys
  and content hashes, HMACs NHS numbers, redacts free text, runs some 60 GX expectations per table, writes
  quarantine rows with their row numbers and data-quality results, and merges newest-wins with exact counts. Its
  extract → load is within 3× of dlt arrow on PostgreSQL and 3.7× faster than dlt dict on DuckDB; the marts build
  (every model and some 115 checks) doubles the wall at 100k, and dlt builds no marts.
* **1M extract → marts (targets 2.5 / 4 min).** Met in the runs above (1.8 and 3.0 min) on a fast day of this
  machine; an earlier run of the same pipeline on a slow day took 3.4 and 5.5 min, its raw-ingestion baseline
  twice as slow too. So the target is met on a quiet machine, not with a margin that survives its slow days. Most
  of the wall is the transform (mapping, pseudonymisation, keys, redaction, in Arrow but orchestrated per column
  from Python) and the DQ assessment and staging, on two cores that the two workers already fill; the load overlaps
  it only partly, since it needs finished batches and runs one at a time. The peers do none of this work.
* **Nightly delta on top of 1M (DuckDB 13.4 s, PostgreSQL 24.4 s; targets 10 s, and 30 s in issue 10).** The
  pipeline's part is small and in proportion to the delta (extract, transform and load of 5,000 records: 3–4 s).
  The rest is the dbt build. Its checks now read only the rows changed since each check's last pass (every row
  weekly, on a full refresh and on `psirf marts --full-checks`: `warehouse/dbt/macros/check_scope.sql`). Measured
  side by side on copies of one 1M PostgreSQL warehouse, minutes apart, the delta's dbt build went from 175 to 73
  node-seconds and the delta from 55.6 s to 27.0 s (DuckDB: 40 to 29 node-seconds, 16.3 s to 14.4 s); with no
  parallel workers per query in dbt's sessions (dbt's 4 threads already fill the 2 cores) 25 s. What is
  left on PostgreSQL is mostly the aggregate oversight tables, rebuilt whole each night (about 20 node-seconds), and
  the whole-table checks (the oversight totals, the per-provider figures, compound grains: about 7), on 4 dbt
  threads sharing 2 cores. The 10 s target would need incremental oversight aggregates (each provider-month
  recomputed only when one of its incidents changed) and fewer, larger dbt nodes; not done.
* **Peak memory (1M: 3.6 GiB DuckDB, 2.8 GiB PostgreSQL; target 1.5 GB).** The figure is the sum over the parent
  and its two workers (shared pages count twice). A worker transforming a 200,000-row file peaks at about 0.95
  GiB: GX and its contexts (≈ 0.35 GiB), Arrow's CSV parse block (65 MiB of text, sized so that a field up to the
  64 MiB hard limit can be read, plus its parsed arrays) and the chunk's transform. The parent holds DuckDB's
  buffer pool (`PSIRF_DUCKDB_MEMORY_LIMIT`, 1.5 GB), which must hold the primary-key indexes of the whole
  warehouse. `PSIRF_WORKERS=1` trades about a third more wall time for about half the memory (931 MiB at 100k).
* **Load within 2× of the raw limit (DuckDB 4.9–7.2×, PostgreSQL 1.8–2.2×).** The raw limit appends to keyless
  tables; the load also splits inserts from updates against the primary-key index (DuckDB's ART index
  maintenance dominates), writes quarantine, data-quality rows and the ledger, all in one transaction per batch.

* **Not covered**: REST extraction holds one pull's records in memory before writing the landing file; Excel
  workbooks and FHIR Bundle documents are parsed whole (only NDJSON streams); the bench's LFPSE share has no
  safety actions (LFPSE has none).
""".splitlines()


# --- parent ----------------------------------------------------------------------------------------------------


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(**PG_ADMIN, autocommit=True, connect_timeout=5)


@contextlib.contextmanager
def warehouse(engine_name: str, home: Path):  # type: ignore[no-untyped-def]
    if engine_name == "duckdb":
        yield f"duckdb:///{home / 'warehouse.duckdb'}"
        return
    from psycopg import sql

    dbname = f"psirf_bench_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    try:
        yield PG_URL.format(dbname=dbname)
    finally:
        with _pg_admin() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def _child(mode: str, url: str, home: Path, delta: int) -> dict[str, Any]:
    env = os.environ | {"PSIRF_HOME": str(home), "PSIRF_WAREHOUSE_URL": url, "PSIRF_PSEUDONYMISATION_KEY": KEY,
                        "PSIRF_REGISTRY": str(REPO / "bench" / "providers_bench.toml"),
                        "PSIRF_MAX_INVALID_SHARE": "0.5"}
    out = home / f"{mode}.json"
    cmd = [sys.executable, "-m", "bench.run", "--child", mode, "--url", url, "--home", str(home),
           "--delta", str(delta), "--result", str(out)]
    subprocess.run(cmd, check=True, env=env, cwd=REPO)  # noqa: S603 - our own module, our arguments
    return json.loads(out.read_text())


def run_engine(engine_name: str, feed: Path, work: Path, delta: int) -> dict[str, Any]:
    home = work / engine_name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copytree(feed / "demo_feeds", home / "demo_feeds", copy_function=os.link)  # hard links: no copy
    with warehouse(engine_name, home) as url:
        print(f"[bench] {engine_name}: pipeline ...", flush=True)
        result = _child("pipeline", url, home, delta)
        print(f"[bench] {engine_name}: raw bulk ingestion ...", flush=True)
        result["raw"] = _child("raw", url, home, delta)
    shutil.rmtree(home, ignore_errors=True)
    return result


def median_run(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's figures from several rounds: every number is the median over the rounds (dicts recursively),
    and ``rounds`` keeps each round's full and delta wall times with their spread around the median."""

    def merge(values: list[Any]) -> Any:
        if all(isinstance(v, dict) for v in values):
            keys = dict.fromkeys(k for v in values for k in v)
            return {k: merge([v[k] for v in values if k in v]) for k in keys}
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            median = statistics.median(values)
            return int(median) if all(isinstance(v, int) for v in values) else median
        return values[0]

    out = merge(rounds)
    out["rounds"] = {key: {"values": [r[key] for r in rounds], "spread": spread([r[key] for r in rounds])}
                     for key in ("wall", "delta_wall") if all(key in r for r in rounds)}
    return out


def spread(values: list[float]) -> float:
    """The largest distance of a round from the median, as a share of the median (0.08: within 8%)."""
    median = statistics.median(values)
    return max(abs(v - median) for v in values) / median if median else 0.0


def write_report(out: Path, text: str) -> None:
    """Write ``text`` to ``out``, keeping the ``make bench-peers`` block (bench/peers) of the old file unchanged."""
    kept = PEERS_RE.search(out.read_text()) if out.exists() else None
    out.write_text(text + ("\n" + kept.group(0) if kept else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--rows", type=int, default=100_000, help="incidents in the full feed (five providers)")
    parser.add_argument("--engines", default="duckdb,postgresql")
    parser.add_argument("--delta", type=int, default=5000, help="changed incident records in the nightly delta")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per engine (interleaved); figures are medians")
    parser.add_argument("--workers", type=int, default=None,
                        help="transforming processes (PSIRF_WORKERS; default: as `psirf run`, the cores up to 4)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default $PSIRF_HOME/bench)")
    parser.add_argument("--child", choices=("pipeline", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--render-only", action="store_true", help="rewrite --out from the results it holds")
    args = parser.parse_args(argv)
    if args.render_only:
        results = json.loads(RESULTS_RE.search(args.out.read_text()).group(1))  # type: ignore[union-attr]
        write_report(args.out, render(results) + f"\n<!-- bench-results\n{json.dumps(results, indent=1)}\n-->\n")
        return 0
    if args.child:
        result = (child_pipeline(args.url, args.home, args.delta) if args.child == "pipeline"
                  else child_raw(args.url, args.home))
        args.result.write_text(json.dumps(result))
        return 0

    from bench.generate import generate_full
    from psirf import settings

    if args.workers is not None:
        os.environ["PSIRF_WORKERS"] = str(args.workers)

    work = (args.work or settings.psirf_home() / "bench").resolve()
    feed = work / f"feed_{args.rows}"
    os.environ["PSIRF_PROFILES_DIR"] = os.environ.get("PSIRF_PROFILES_DIR", str(settings.profiles_dir()))
    print(f"[bench] generating {args.rows} incidents under {feed} ...", flush=True)
    start = time.perf_counter()
    generate_full(feed, args.rows)
    generated = time.perf_counter() - start
    engines = args.engines.split(",")
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in engines}
    for round_number in range(args.rounds):  # interleaved: a slow minute of the machine hits every engine alike
        for name in engines[round_number % len(engines):] + engines[:round_number % len(engines)]:
            print(f"[bench] round {round_number + 1} of {args.rounds}", flush=True)
            rounds[name].append(run_engine(name, feed, work, args.delta))
    runs = {name: median_run(rounds[name]) for name in engines}
    entry = {"rows": args.rows, "delta": args.delta, "generated_seconds": generated, "runs": runs,
             "rounds": args.rounds,
             "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
             "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    results = {}
    if args.out.exists():
        found = RESULTS_RE.search(args.out.read_text())
        if found:
            results = json.loads(found.group(1))
    earlier = results.get(str(args.rows), {}).get("runs", {})
    if earlier and args.engines != "duckdb,postgresql":  # one engine rerun: keep the other's figures of this size
        entry["runs"] = {**{k: v for k, v in earlier.items() if k not in runs}, **runs}
    results[str(args.rows)] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_report(args.out, render(results) + f"\n<!-- bench-results\n{json.dumps(results, indent=1)}\n-->\n")
    print(f"[bench] wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
