"""``make bench-peers``: the pipeline against its peers, on the same generated files, interleaved.

    python -m bench.peers.run --rows 100000 [--rounds 3] [--engines duckdb,postgresql]
                              [--contenders pipeline,dlt_arrow,dlt_dict,pandas,pandas_gx,raw]
                              [--peers-python .venv-peers/bin/python] [--out docs/benchmarks.md]

Runs in the project's venv. The feed is ``bench.generate.generate_full`` (the same files, and the same cache
folder, as ``make bench``). Every run is a fresh child process on a fresh warehouse (``bench.run.warehouse``: a
DuckDB file, or a PostgreSQL database dropped afterwards):

* the pipeline: ``bench.run``'s own child (``python -m bench.run --child pipeline --delta 0``), its JSON read as
  the interface (``wall``, ``seconds`` per stage, ``peak_mib_full``);
* the peers: ``bench.peers.contenders`` in the peers' venv (dlt 1.31, ``bench/peers/requirements.txt``).

The results go into docs/benchmarks.md between ``<!-- bench-peers:start -->`` and ``<!-- bench-peers:end -->``
(``bench.run`` keeps that block when it rewrites the file).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.peers import report

REPO = Path(__file__).resolve().parents[2]
PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"
VERSIONS = ("dlt", "pandas", "pyarrow", "duckdb", "great-expectations", "sqlalchemy", "psycopg", "psycopg2-binary")


def feed_files(feed: Path) -> list[dict[str, Any]]:
    """Every file the pipeline loads from the feed, with what a peer needs to read it."""
    from bench.generate import providers
    from psirf import settings
    from transforms.profile import load_profile

    manifest = json.loads((feed / "demo_feeds" / "manifest.json").read_text())
    out: list[dict[str, Any]] = []
    for provider in providers(feed):
        if provider.source_type in {"csv_drop"}:  # the trusts' exports
            profile = load_profile(provider.profile, settings.profiles_dir())
            files = manifest["providers"][provider.ods_code]["files"]
            for entity, entry in files.items():
                columns = profile.entity(entity).columns
                date_field = "occurred_date" if entity == "incidents" else "due_date"
                out.append({"kind": "csv", "path": str(feed / entry["path"]), "encoding": entry["encoding"],
                            "table": f"{provider.ods_code.lower()}_{entity}", "entity": entity,
                            "primary_key": columns["source_record_id"], "date_column": columns[date_field],
                            "date_format": profile.date_format})
        else:  # the LFPSE FHIR NDJSON export (its FHIR Bundle file is not loaded by the bench either)
            for glob in provider.feed.globs.values():
                out += [{"kind": "ndjson", "path": str(path), "encoding": "utf-8", "entity": "incidents",
                         "table": f"{provider.ods_code.lower()}_lfpse", "primary_key": "id"}
                        for path in sorted(provider.feed.path.glob(glob))]
    return out


def _count_lines(path: str) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def _count_rows(f: dict[str, Any]) -> int:
    """Records in a CSV file (a quoted narrative may span lines), the header not counted."""
    with open(f["path"], encoding=f["encoding"], newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def _fresh(home: Path, feed: Path | None = None) -> None:
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    if feed is not None:
        shutil.copytree(feed / "demo_feeds", home / "demo_feeds", copy_function=os.link)  # hard links: no copy


def run_pipeline(engine: str, feed: Path, work: Path) -> dict[str, Any]:
    """``make bench``'s pipeline child, full load only; its JSON read defensively (its timers may change)."""
    from bench import run as bench_run

    home = work / f"peers_{engine}_pipeline"
    _fresh(home, feed)
    with bench_run.warehouse(engine, home) as url:
        start = time.perf_counter()
        child = bench_run._child("pipeline", url, home, 0)
        elapsed = time.perf_counter() - start
    shutil.rmtree(home, ignore_errors=True)
    seconds = child.get("seconds") or {}
    wall = child.get("wall")
    counts = child.get("counts") or {}
    return {"wall": wall, "load": seconds.get("load"), "extract_load": extract_load(wall, seconds),
            "import_seconds": elapsed - wall if isinstance(wall, int | float) else None,
            "peak_mib": child.get("peak_mib_full", child.get("peak_mib")), "rows": counts.get("loaded"),
            "child": {k: child.get(k) for k in ("seconds", "counts", "wall", "peak_mib_full", "peak_mib")}}


def extract_load(wall: Any, seconds: dict[str, Any]) -> float | None:
    """Extract → load: the wall (extract → marts) less the marts build, its last stage. Not the sum of the
    stages: with worker processes the transform's seconds are summed over the workers and overlap the loads."""
    marts = seconds.get("marts")
    return wall - marts if isinstance(wall, int | float) and isinstance(marts, int | float) else None


def run_peer(contender: str, engine: str, files: list[dict[str, Any]], work: Path, python: Path) -> dict[str, Any]:
    from bench import run as bench_run

    home = work / f"peers_{engine}_{contender}"
    _fresh(home)
    with bench_run.warehouse(engine, home) as url:
        schema = "peers" if contender.startswith("dlt") else ("main" if engine == "duckdb" else "public")
        spec = {"contender": contender, "engine": engine, "url": url, "home": str(home), "schema": schema,
                "files": files}
        (home / "spec.json").write_text(json.dumps(spec))
        cmd = [str(python), "-m", "bench.peers.contenders", str(home / "spec.json"), str(home / "result.json")]
        env = os.environ | {"RUNTIME__DLTHUB_TELEMETRY": "false"}
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)  # noqa: S603 - our module
        if done.returncode != 0:
            result: dict[str, Any] = {"error": (done.stderr or done.stdout)[-2000:]}
        else:
            result = json.loads((home / "result.json").read_text())
    shutil.rmtree(home, ignore_errors=True)
    return result


def versions(python: Path) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys; "
            f"print(json.dumps({{p: m.version(p) for p in {list(VERSIONS)!r}}}))")
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    out = json.loads(done.stdout)
    try:
        from bench import run as bench_run

        with bench_run._pg_admin() as admin:
            out["PostgreSQL"] = str(admin.execute("SHOW server_version").fetchone()[0]).split()[0]
    except Exception:  # noqa: S110 - the version is a courtesy
        pass
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.run")
    parser.add_argument("--rows", type=int, default=100_000, help="incidents in the full feed (five providers)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", default="duckdb,postgresql")
    parser.add_argument("--contenders", default=",".join(report.CONTENDERS))
    parser.add_argument("--peers-python", type=Path, default=PEERS_PYTHON)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default $PSIRF_HOME/bench)")
    parser.add_argument("--render-only", action="store_true", help="rewrite the block from the results it holds")
    args = parser.parse_args(argv)
    if args.render_only:
        results = report.stored_results(args.out.read_text())
        if results is None:
            print(f"[bench-peers] no bench-peers results in {args.out}", file=sys.stderr)
            return 1
        args.out.write_text(report.replace_block(args.out.read_text(), report.render(results)))
        return 0

    from bench.generate import generate_full
    from psirf import settings

    engines = args.engines.split(",")
    contenders = [c for c in args.contenders.split(",") if c]
    unknown = set(contenders) - set(report.CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    if any(c != report.PIPELINE for c in contenders) and not args.peers_python.exists():
        parser.error(f"{args.peers_python} not found: `make bench-peers` creates the peers' venv")
    work = (args.work or settings.psirf_home() / "bench").resolve()
    feed = work / f"feed_{args.rows}"
    os.environ["PSIRF_PROFILES_DIR"] = os.environ.get("PSIRF_PROFILES_DIR", str(settings.profiles_dir()))
    print(f"[bench-peers] generating {args.rows} incidents under {feed} ...", flush=True)
    generate_full(feed, args.rows)
    files = feed_files(feed)
    csv_rows = sum(_count_rows(f) for f in files if f["kind"] == "csv")
    ndjson_lines = sum(_count_lines(f["path"]) for f in files if f["kind"] == "ndjson")
    load_before = os.getloadavg()[1]
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    plan = report.schedule(contenders, engines, args.rounds)
    for r, order in enumerate(plan):
        for contender, engine in order:
            print(f"[bench-peers] round {r + 1}/{len(plan)}: {contender} on {engine} ...", flush=True)
            start = time.perf_counter()
            try:
                result = (run_pipeline(engine, feed, work) if contender == report.PIPELINE
                          else run_peer(contender, engine, files, work, args.peers_python))
            except (subprocess.CalledProcessError, OSError, ValueError) as exc:
                result = {"error": f"{type(exc).__name__}: {exc}"[-2000:]}
            runs.append({"round": r, "contender": contender, "engine": engine, **result,
                         "elapsed": time.perf_counter() - start})
            shown = result.get("wall") if contender == report.PIPELINE else result.get("work_seconds")
            print("[bench-peers]   -> " + (f"{shown:.1f} s" if isinstance(shown, int | float)
                                             else f"failed: {str(result.get('error'))[-300:]}"), flush=True)
    results = {"rows": args.rows, "rounds": args.rounds, "engines": engines, "contenders": contenders,
               "runs": runs, "bench_seconds": time.perf_counter() - started,
               "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "meta": {"files": f"{sum(f['kind'] == 'csv' for f in files)} CSV files holding {csv_rows:,} "
                                 f"rows and {sum(f['kind'] == 'ndjson' for f in files)} LFPSE NDJSON file of "
                                 f"{ndjson_lines:,} lines",
                        "load_average": [load_before, os.getloadavg()[1]],  # 5-minute, start and end
                        "versions": versions(args.peers_python) if args.peers_python.exists() else {}}}
    text = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.replace_block(text, report.render(results)))
    print(f"[bench-peers] wrote {args.out} ({results['bench_seconds'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
