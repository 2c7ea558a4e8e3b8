"""What the pipeline writes, as digests that survive a rewrite of how it writes it (issue 15).

The performance work rewrites the readers, transforms, validation and load; none of it may change what lands.
:func:`load_fixture_feeds` loads two fixed inputs (the demo estate, every provider in its own source family, batch
by batch; and a small bench feed read in small chunks, so records and duplicates straddle chunks, transformed in two
worker processes as ``psirf run`` does) with a fixed extraction time, and
:func:`digests` reduces every warehouse table to a row count and SHA-256 digests: one over the sorted rows and one
per column, so a difference names the column. Values that differ from run to run by design are left out or made
stable: batch ids (UUIDs) become the batch's provider, entity and file name; load and check timestamps are dropped;
keys derived from a batch id (``quarantine_key``, ``result_key`` …) are dropped; file paths keep their name.

``python -m tests.golden_outputs --write`` records the digests in ``tests/fixtures/golden/outputs.json``; only do
that for a change that is *meant* to change the outputs, and say so in the commit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "outputs.json"
KEY = "TEST-ONLY-key-for-pseudonymisation-tests-0123"
EXTRACTED_AT = dt.datetime(2026, 11, 30, 2, 0, 0)
BENCH_ROWS = 3000
BENCH_CHUNK_ROWS = 400
DEMO_PROVIDERS = ["RAJ", "R1L", "RDE", "RQW", "RYC", "QH8", "X24"]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VOLATILE = {"run_id", "loaded_at", "updated_at", "started_at", "finished_at", "extracted_at", "checked_at",
            "scored_at", "quarantine_key", "result_key", "score_key", "issue_key", "check_id"}
"""Columns that differ between two identical runs (times, run ids, keys hashed from a batch id)."""


def _value(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | decimal.Decimal):
        return repr(round(float(value), 6))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def digests(engine: Engine) -> dict[str, Any]:
    """Every table of the warehouse's canonical schema as ``{rows, digest, columns: {name: digest}}``."""
    inspector = sa.inspect(engine)
    tables = sorted(t for t in inspector.get_table_names() if t != "alembic_version")
    with engine.connect() as conn:
        ledger = conn.execute(sa.text("SELECT batch_id, provider_ods, entity, source_file FROM batch_ledger")).all()
        labels = {b: f"{ods}/{entity}/{_name(f)}" for b, ods, entity, f in ledger}
        out: dict[str, Any] = {}
        for table in tables:
            columns = sorted(c["name"] for c in inspector.get_columns(table) if c["name"] not in VOLATILE)
            rows = []
            for row in conn.execute(sa.text(f"SELECT {', '.join(columns)} FROM {table}")):
                values = []
                for name, value in zip(columns, row, strict=True):
                    if name == "batch_id" and value is not None:
                        value = labels.get(value, "?")
                    elif name == "source_file" and value is not None:
                        value = _name(value)
                    values.append(_value(value))
                rows.append(values)
            rows.sort()
            out[table] = {
                "rows": len(rows),
                "digest": _sha("\x1e".join("\x1f".join(r) for r in rows)),
                "columns": {name: _sha("\x1e".join(sorted(r[i] for r in rows))) for i, name in enumerate(columns)},
            }
    return out


def _name(path: str) -> str:
    """A file's name, with a batch id in it (a REST landing file is named after its batch) made stable."""
    return _UUID.sub("<batch>", Path(path).name)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _load_in_parallel(engine: Engine, providers: list[str]) -> None:
    """As ``psirf run`` loads: transformed in two worker processes, loaded here in order."""
    from psirf.parallel import run_providers
    from psirf.registry import load_registry
    from warehouse.reference import seed_organisations

    seed_organisations(engine, load_registry())
    for code, outcome in run_providers(providers, run_id="golden", engine=engine, size=2,
                                       extracted_at=EXTRACTED_AT).items():
        if isinstance(outcome, BaseException):
            raise RuntimeError(f"{code} failed") from outcome


def _load(engine: Engine, providers: list[str]) -> None:
    from psirf.errors import BatchRejected
    from psirf.pipeline import extract_provider, load_processed, process_batch
    from psirf.registry import load_registry
    from warehouse.reference import seed_organisations

    seed_organisations(engine, load_registry())
    for ods in providers:
        for ref in extract_provider(ods, run_id="golden", extracted_at=EXTRACTED_AT, engine=engine):
            with contextlib.suppress(BatchRejected):  # a rejection is in the ledger, which is compared
                load_processed(process_batch(ref, key=KEY.encode()), engine=engine)


def load_fixture_feeds(url_for: Callable[[str], str], work: Path) -> dict[str, dict[str, Any]]:
    """Load both fixed inputs, each into its own fresh warehouse (``url_for("demo")``, ``url_for("bench")``), and
    return their digests: ``{"demo_estate": …, "bench_feed": …}``."""
    from bench.generate import generate_full, providers
    from demo import mock_provider_api
    from demo.sources import demo_sources_dir, generate_demo
    from warehouse.db import make_engine
    from warehouse.migrate import upgrade

    results: dict[str, dict[str, Any]] = {}
    home = work / "demo"
    with _environment(PSIRF_HOME=str(home), PSIRF_PSEUDONYMISATION_KEY=KEY):
        generate_demo(home, incidents_per_provider=40, lfpse_events_per_practice=6)
        server = mock_provider_api.start(feeds_dir=demo_sources_dir(home))
        try:
            with _environment(PSIRF_CONN_R1L_API=f"http://:demo-bearer-token@127.0.0.1:{server.port}/R1L/api"):
                engine = make_engine(url_for("demo"))
                upgrade(engine)
                _load(engine, DEMO_PROVIDERS)
                results["demo_estate"] = digests(engine)
                engine.dispose()
        finally:
            server.stop()
    home = work / "bench"
    registry = Path(__file__).resolve().parent.parent / "bench" / "providers_bench.toml"
    with _environment(PSIRF_HOME=str(home), PSIRF_PSEUDONYMISATION_KEY=KEY, PSIRF_REGISTRY=str(registry),
                      PSIRF_CHUNK_ROWS=str(BENCH_CHUNK_ROWS)):
        generate_full(home, BENCH_ROWS)
        engine = make_engine(url_for("bench"))
        upgrade(engine)
        _load_in_parallel(engine, [p.ods_code for p in providers(home)])
        results["bench_feed"] = digests(engine)
        engine.dispose()
    return results


def differences(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Readable differences: per input and table, the row count or the columns whose values changed."""
    out = []
    for name in sorted(set(expected) | set(got)):
        want, have = expected.get(name, {}), got.get(name, {})
        for table in sorted(set(want) | set(have)):
            a, b = want.get(table), have.get(table)
            if a == b:
                continue
            if a is None or b is None:
                out.append(f"{name}.{table}: {'missing' if b is None else 'new'}")
                continue
            if a["rows"] != b["rows"]:
                out.append(f"{name}.{table}: {a['rows']} rows expected, {b['rows']} found")
            changed = sorted(c for c in set(a["columns"]) | set(b["columns"])
                             if a["columns"].get(c) != b["columns"].get(c))
            out.append(f"{name}.{table}: values differ in {', '.join(changed) or 'row pairing only'}")
    return out


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m tests.golden_outputs")
    parser.add_argument("--write", action="store_true", help=f"record the digests in {GOLDEN}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        found = load_fixture_feeds(lambda name: f"duckdb:///{tmp}/{name}.duckdb", Path(tmp))
    if args.write:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {GOLDEN}")
    else:
        expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
        print("\n".join(differences(expected, found)) or "identical")
