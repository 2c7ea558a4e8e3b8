"""``make bench-peers``: the pure part — interleaving order, medians, ratios, spreads, the markdown block.

Standard library only: imported by the harness (``bench.peers.run``) and by its test.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable
from typing import Any

START = "<!-- bench-peers:start -->"
END = "<!-- bench-peers:end -->"
BLOCK_RE = re.compile(re.escape(START) + r".*?" + re.escape(END) + r"\n?", re.S)
RESULTS_RE = re.compile(r"<!-- bench-peers-results\n(.*?)\n-->", re.S)
SPREAD = 0.10  # a figure whose rounds lie further than this around its median is flagged

PIPELINE = "pipeline"
PEERS = ("dlt_arrow", "dlt_dict", "pandas", "pandas_gx", "raw")
CONTENDERS = (PIPELINE, *PEERS)
LABELS = {"pipeline": "pipeline", "dlt_arrow": "dlt arrow merge", "dlt_dict": "dlt dict merge",
          "pandas": "pandas `to_sql`", "pandas_gx": "pandas + GX `to_sql`", "raw": "raw limit"}
# the pipeline's two measures (keys of its run records), and the load stage alone (against the raw limit)
MEASURES = {"extract_load": "extract → load", "wall": "extract → marts"}


def schedule(contenders: Iterable[str], engines: Iterable[str], rounds: int) -> list[list[tuple[str, str]]]:
    """Each round runs every contender once per engine; round r starts r places further along both lists.

    So no contender always runs first (cold caches) or right after the same neighbour, and each engine leads
    in turn.
    """
    cs, es = list(contenders), list(engines)
    out = []
    for r in range(rounds):
        c_order = cs[r % len(cs):] + cs[:r % len(cs)] if cs else []
        e_order = es[r % len(es):] + es[:r % len(es)] if es else []
        out.append([(c, e) for c in c_order for e in e_order])
    return out


def spread(values: list[float]) -> float:
    """The largest distance of a round's value from the median, as a share of the median."""
    med = statistics.median(values)
    return max(abs(v - med) for v in values) / med if med else 0.0


def stats(values: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values),
            "spread": spread(values), "flag": spread(values) > SPREAD}


def _ok(run: dict[str, Any] | None) -> bool:
    return bool(run) and "error" not in run  # type: ignore[operator]


def _value(run: dict[str, Any], key: str) -> float | None:
    value = run.get(key)
    return float(value) if isinstance(value, int | float) else None


def by_round(runs: list[dict[str, Any]], contender: str, engine: str) -> dict[int, dict[str, Any]]:
    return {r["round"]: r for r in runs if r["contender"] == contender and r["engine"] == engine and _ok(r)}


def summarise(runs: list[dict[str, Any]], engines: list[str]) -> dict[str, Any]:
    """Per contender (the pipeline: per measure) and engine: stats of work seconds; import, peak, rows."""
    out: dict[str, Any] = {}
    for contender in CONTENDERS:
        keys = [*MEASURES, "load"] if contender == PIPELINE else ["work_seconds"]
        for engine in engines:
            rounds = by_round(runs, contender, engine)
            if not rounds:
                continue
            for key in keys:
                values = [v for r in rounds.values() if (v := _value(r, key)) is not None]
                if not values:
                    continue
                name = f"{contender}:{key}" if contender == PIPELINE else contender
                extra = [_value(r, "import_seconds") for r in rounds.values()]
                imports = [v for v in extra if v is not None]
                out.setdefault(name, {})[engine] = {
                    **stats(values),
                    "import_seconds": statistics.median(imports) if imports else None,
                    "peak_mib": max(float(r.get("peak_mib") or 0) for r in rounds.values()),
                    "rows": max(int(r.get("rows") or 0) for r in rounds.values()),
                }
    return out


def ratios(runs: list[dict[str, Any]], engines: list[str]) -> dict[str, Any]:
    """pipeline ÷ peer per round (same round, same engine), for each pipeline measure; and load stage ÷ raw."""
    out: dict[str, Any] = {}
    for engine in engines:
        pipe = by_round(runs, PIPELINE, engine)
        for peer in PEERS:
            other = by_round(runs, peer, engine)
            pairs = [(pipe[r], other[r]) for r in sorted(set(pipe) & set(other))]
            for key in MEASURES:
                values = [p[key] / o["work_seconds"] for p, o in pairs
                          if _value(p, key) is not None and (_value(o, "work_seconds") or 0) > 0]
                if values:
                    out.setdefault(f"{key}/{peer}", {})[engine] = stats(values)
            if peer == "raw":
                values = [p["load"] / o["work_seconds"] for p, o in pairs
                          if _value(p, "load") is not None and (_value(o, "work_seconds") or 0) > 0]
                if values:
                    out.setdefault("load/raw", {})[engine] = stats(values)
    return out


# --- markdown --------------------------------------------------------------------------------------------------

DOES = [  # what each contender does: pipeline, dlt arrow, dlt dict, pandas, pandas + GX, raw
    ("files loaded", ["the ten CSV exports and the LFPSE NDJSON file (FHIR flattened to a row per patient; "
                      "malformed lines quarantined)",
                      "the ten CSV exports (pyarrow's JSON reader stops at the LFPSE file's malformed line and "
                      "cannot skip it)", "the ten CSV exports and the LFPSE NDJSON file (parsed lines; "
                      "malformed ones skipped; nested values as JSON)", "the ten CSV exports (nested FHIR "
                      "documents do not fit `to_sql`)", "the ten CSV exports", "the ten CSV exports and the "
                      "LFPSE lines (as JSON text)"]),
    ("decoding (Windows-1252, UTF-8 with BOM)", ["detected per file", "given per file", "given per file",
                                                "given per file", "given per file",
                                                "given; transcoded (DuckDB: a UTF-8 copy; PostgreSQL: COPY "
                                                "`ENCODING`)"]),
    ("types", ["canonical model: dates, codes mapped, booleans", "inferred by pyarrow", "all text",
               "inferred by pandas", "inferred by pandas", "all text"]),
    ("validation", ["GX suites per entity (required, dates, codes, NHS number, …)", "no", "no", "no",
                    "GX 1.x: id not null, a date matches its format (result recorded, nothing held back)", "no"]),
    ("pseudonymisation", ["HMAC of NHS number", "no", "no", "no", "no", "no"]),
    ("redaction of free text", ["yes", "no", "no", "no", "no", "no"]),
    ("quarantine of invalid rows", ["yes, with the rule broken", "no (rows without an id dropped)",
                                    "no (rows without an id dropped)", "no", "no", "no"]),
    ("load ledger, data-quality rows", ["yes", "dlt's load packages and `_dlt_loads`", "same as arrow", "no",
                                        "no", "no"]),
    ("dedup / merge on the record id", ["yes: exact duplicates, newest source update wins, unchanged rows skipped",
                                        "merge on the id (dlt dedups the load by key)", "same as arrow",
                                        "no: appends, every rerun duplicates", "no: appends", "no: CREATE/COPY"]),
    ("marts (dbt build and tests)", ["yes (extract → marts); not in extract → load", "no", "no", "no", "no",
                                     "no"]),
]


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _flag(s: dict[str, Any]) -> str:
    return " ⚠" if s.get("flag") else ""


def render(results: dict[str, Any]) -> str:
    """The block that goes into docs/benchmarks.md, the raw results kept in a JSON comment inside it."""
    engines: list[str] = results["engines"]
    runs: list[dict[str, Any]] = results["runs"]
    summary, ratio = summarise(runs, engines), ratios(runs, engines)
    meta = results.get("meta", {})
    lines = [START, "## The pipeline against its peers (`make bench-peers`)", "",
             "Generated by `make bench-peers` (`python -m bench.peers.run`: `bench/peers/`); kept as it is when "
             "`make bench` rewrites the rest of this file. Do not edit by hand.", "",
             f"Measured {results['measured_at']} on {results['machine']}; {int(results['rows']):,} incidents from "
             f"`bench.generate.generate_full` (the files `make bench` loads: {meta.get('files', '?')}); "
             f"{results['rounds']} interleaved rounds, each contender once per engine and round in a rotating order "
             "(`bench.peers.report.schedule`), each run a fresh child process on a fresh DuckDB file or PostgreSQL "
             "database. Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(meta.get("versions", {}).items()))
             + "." + (" Machine load (5-minute load average, start / end): {:.1f} / {:.1f}.".format(
                 *meta["load_average"]) if meta.get("load_average") else ""), "",
             "*Work* is the contender's loading, from the files to committed rows; *import* is apart (its libraries; "
             "for the pipeline, the child's start-up: imports, migrations, GX and its worker processes, and "
             "publishing after the marts). The pipeline is run exactly as `make bench` runs it (`bench.run --child "
             "pipeline`, without the nightly delta: its batches transformed in worker processes, one per core, and "
             "loaded in order): *extract → marts* is its wall time; *extract → load* is that wall less the dbt "
             "build of the marts with its tests. Peak memory is the child's peak plus its workers'. *Rows loaded* "
             "are the rows in the destination's tables after the run (the pipeline: canonical rows loaded; rows "
             "it quarantines or drops as duplicates are not counted). "
             f"⚠: the rounds lie more than {SPREAD:.0%} from the median.", "",
             "### What each contender does and does not do", "",
             "| | " + " | ".join(LABELS[c] for c in CONTENDERS) + " |", "|---|" + "---|" * len(CONTENDERS)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in DOES]
    lines += ["", "### Times (median of the rounds)", "",
              "| contender | engine | work s | min–max s | import s | peak MiB | rows loaded |",
              "|---|---|---:|---:|---:|---:|---:|"]
    names = [(f"{PIPELINE}:{k}", f"pipeline, {label}") for k, label in MEASURES.items()]
    names += [(f"{PIPELINE}:load", "pipeline, load stage alone")] + [(p, LABELS[p]) for p in PEERS]
    for name, label in names:
        for engine in engines:
            s = summary.get(name, {}).get(engine)
            failed = [r for r in runs if r["contender"] == name.split(":")[0] and r["engine"] == engine
                      and "error" in r]
            if s is None:
                lines.append(f"| {label} | {engine} | {'failed' if failed else '–'} | | | | |")
                continue
            lines.append(f"| {label} | {engine} | **{_fmt(s['median'])}**{_flag(s)} | {_fmt(s['min'])}–"
                         f"{_fmt(s['max'])} | {_fmt(s['import_seconds'])} | {_fmt(s['peak_mib'], 0)} | "
                         f"{s['rows']:,} |")
    header = " | ".join(f"{e}, {label}" for e in engines for label in MEASURES.values())
    lines += ["", "### Ratios: pipeline ÷ peer (median of the per-round ratios; min–max)", "",
              f"| peer | {header} |", "|---|" + "---:|" * (len(engines) * len(MEASURES))]
    for peer in PEERS:
        cells = []
        for engine in engines:
            for key in MEASURES:
                s = ratio.get(f"{key}/{peer}", {}).get(engine)
                cells.append("–" if s is None else
                             f"**{s['median']:.2f}×**{_flag(s)} ({s['min']:.2f}–{s['max']:.2f})")
        lines.append(f"| {LABELS[peer]} | " + " | ".join(cells) + " |")
    lines += ["", "### Against the targets", "", "| target | " + " | ".join(engines) + " |",
              "|---|" + "---:|" * len(engines)]

    def target(label: str, key: str, ok: Any) -> None:
        cells = []
        for engine in engines:
            s = ratio.get(key, {}).get(engine)
            cells.append("–" if s is None else
                         f"{s['median']:.2f}× — " + ("met" if ok(s["median"]) else "**not met**"))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    for key, label in MEASURES.items():
        target(f"pipeline ({label}) within 3× of dlt arrow merge", f"{key}/dlt_arrow", lambda x: x <= 3)
        target(f"pipeline ({label}) at least 3× faster than dlt dict merge", f"{key}/dlt_dict",
               lambda x: x <= 1 / 3)
    target("load stage within 2× of the raw limit", "load/raw", lambda x: x <= 2)
    raw = dump(results).replace("-->", "--\\u003e")  # an error text cannot end the comment
    lines += ["", f"<!-- bench-peers-results\n{raw}\n-->", END]
    return "\n".join(lines) + "\n"


def dump(results: dict[str, Any]) -> str:
    """The results as JSON, a line per run."""
    head = json.dumps({k: v for k, v in results.items() if k != "runs"}, ensure_ascii=False)
    runs = ",\n".join(json.dumps(r, ensure_ascii=False) for r in results.get("runs", []))
    return head[:-1] + (", " if head != "{}" else "") + '"runs": [\n' + runs + "\n]}"


def extract_block(text: str) -> str | None:
    found = BLOCK_RE.search(text)
    return found.group(0) if found else None


def replace_block(text: str, block: str) -> str:
    """``text`` with its bench-peers block replaced by ``block`` (appended at the end if it has none)."""
    if BLOCK_RE.search(text):
        return BLOCK_RE.sub(lambda _: block, text, count=1)
    return text.rstrip("\n") + "\n\n" + block


def stored_results(text: str) -> dict[str, Any] | None:
    block = extract_block(text)
    found = RESULTS_RE.search(block) if block else None
    return json.loads(found.group(1)) if found else None
