"""``make bench-peers``'s pure logic: the interleaving, the medians, ratios and spreads, and that ``make bench``
keeps its block in docs/benchmarks.md. Nothing here runs a contender or needs the peers' venv."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench import run as bench_run
from bench.peers import report

REPO = Path(__file__).resolve().parent.parent


def test_schedule_runs_every_contender_once_per_engine_and_round_in_a_rotating_order() -> None:
    plan = report.schedule(["a", "b", "c"], ["duckdb", "postgresql"], 3)
    assert len(plan) == 3
    for order in plan:
        assert sorted(order) == sorted((c, e) for c in "abc" for e in ("duckdb", "postgresql"))
    assert plan[0][:2] == [("a", "duckdb"), ("a", "postgresql")]
    assert plan[1][:2] == [("b", "postgresql"), ("b", "duckdb")]
    assert plan[2][:2] == [("c", "duckdb"), ("c", "postgresql")]
    assert [order[0][0] for order in plan] == ["a", "b", "c"]  # no contender always first
    assert [order[-1][0] for order in plan] == ["c", "a", "b"]


def _runs(pipeline: list[float], arrow: list[float], raw: list[float], engine: str = "duckdb") -> list[dict]:
    runs = []
    for r, (p, a, w) in enumerate(zip(pipeline, arrow, raw, strict=True)):
        runs.append({"round": r, "contender": "pipeline", "engine": engine, "wall": p, "extract_load": p / 2,
                     "load": p / 10, "import_seconds": 5.0, "peak_mib": 700 + r, "rows": 1000})
        runs.append({"round": r, "contender": "dlt_arrow", "engine": engine, "work_seconds": a,
                     "import_seconds": 1.0 + r, "peak_mib": 300.0, "rows": 990})
        runs.append({"round": r, "contender": "raw", "engine": engine, "work_seconds": w, "import_seconds": 0.1,
                     "peak_mib": 100.0, "rows": 1010})
    return runs


def test_medians_spreads_and_ratios_of_the_rounds() -> None:
    runs = _runs(pipeline=[40.0, 44.0, 60.0], arrow=[4.0, 2.0, 5.0], raw=[1.0, 1.0, 2.0])
    runs.append({"round": 0, "contender": "dlt_dict", "engine": "duckdb", "error": "boom"})
    summary = report.summarise(runs, ["duckdb"])
    wall = summary["pipeline:wall"]["duckdb"]
    assert (wall["median"], wall["min"], wall["max"]) == (44.0, 40.0, 60.0)
    assert wall["spread"] == (60 - 44) / 44 and wall["flag"]  # 36% > 10%
    assert summary["pipeline:extract_load"]["duckdb"]["median"] == 22.0
    assert summary["pipeline:wall"]["duckdb"]["peak_mib"] == 702  # the largest of the rounds
    arrow = summary["dlt_arrow"]["duckdb"]
    assert (arrow["median"], arrow["import_seconds"], arrow["rows"]) == (4.0, 2.0, 990)
    assert "dlt_dict" not in summary  # a failed run is no figure

    ratio = report.ratios(runs, ["duckdb"])
    # per-round ratios 10, 22, 12: the median of the ratios, not the ratio of the medians (44 / 4 = 11)
    assert ratio["wall/dlt_arrow"]["duckdb"]["median"] == 12.0
    assert (ratio["wall/dlt_arrow"]["duckdb"]["min"], ratio["wall/dlt_arrow"]["duckdb"]["max"]) == (10.0, 22.0)
    assert ratio["extract_load/dlt_arrow"]["duckdb"]["median"] == 6.0
    assert ratio["load/raw"]["duckdb"]["median"] == 4.0  # 4.0, 4.4, 3.0
    assert "wall/dlt_dict" not in ratio

    steady = report.stats([10.0, 10.5, 9.2])
    assert steady["median"] == 10.0 and not steady["flag"]  # within 10% of the median
    assert report.stats([10.0, 11.5, 10.0])["flag"]


def _results(runs: list[dict]) -> dict:
    return {"rows": 1000, "rounds": 3, "engines": ["duckdb"], "contenders": ["pipeline", "dlt_arrow", "raw"],
            "runs": runs, "measured_at": "2026-01-01 00:00 UTC", "machine": "test", "meta": {"files": "x"}}


def test_render_keeps_the_results_and_replaces_only_its_block() -> None:
    runs = _runs(pipeline=[40.0, 44.0, 60.0], arrow=[4.0, 2.0, 5.0], raw=[1.0, 1.0, 2.0])
    runs.append({"round": 1, "contender": "pandas", "engine": "duckdb", "error": "a --> in an error"})
    block = report.render(_results(runs))
    assert block.startswith(report.START) and block.rstrip().endswith(report.END)
    assert "| dlt arrow merge | duckdb | **4.0** ⚠ | 2.0–5.0 |" in block
    assert "**12.00×** ⚠ (10.00–22.00)" in block
    assert "| pandas `to_sql` | duckdb | failed |" in block
    assert "4.00× — **not met**" in block  # load stage ÷ raw against 2×

    text = "# Benchmarks\n\nbody\n"
    once = report.replace_block(text, block)
    assert once.startswith(text.rstrip("\n")) and once.count(report.START) == 1
    assert report.stored_results(once)["runs"] == runs
    other = report.render(_results(_runs(pipeline=[1.0], arrow=[1.0], raw=[1.0])))
    twice = report.replace_block(once, other)
    assert twice.count(report.START) == 1 and other in twice and "body" in twice


def test_make_bench_keeps_the_bench_peers_block(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    shutil.copy(REPO / "docs" / "benchmarks.md", out)
    block = report.render(_results(_runs(pipeline=[40.0], arrow=[4.0], raw=[1.0])))
    out.write_text(report.replace_block(out.read_text(), block))

    assert bench_run.main(["--render-only", "--out", str(out)]) == 0  # rewrites the file from scratch
    text = out.read_text()
    assert text.count(report.START) == 1 and block in text
    assert text.startswith("# Benchmarks") and bench_run.RESULTS_RE.search(text)
    assert bench_run.main(["--render-only", "--out", str(out)]) == 0
    assert out.read_text() == text  # unchanged by a second rewrite

    bench_run.write_report(out, "# Benchmarks\n\nnew\n")
    assert out.read_text() == "# Benchmarks\n\nnew\n\n" + block
    fresh = tmp_path / "none.md"
    bench_run.write_report(fresh, "# Benchmarks\n")
    assert fresh.read_text() == "# Benchmarks\n"
