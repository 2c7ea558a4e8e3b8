"""Deterministic scale data for the benchmark.

The full feed reuses the demo generators: ``demo.feeds`` (realistic free text, planted defects, duplicates)
for the five CSV trusts of ``bench/providers_bench.toml``, 95% of the incidents (about 1.5 safety actions per
incident), and ``demo.lfpse`` for GP practices, 5% of the incidents as an LFPSE FHIR NDJSON export (one row
per patient, planted malformed lines, unsupported taxonomy versions, opt-outs).

The nightly delta takes ``delta`` existing incident records, spread over the
providers, edits their narrative and moves their "last updated" stamp a day on, and writes them as one new export
file per provider, so the pipeline sees changed records, not new ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from demo.feeds import generate_demo_feeds
from psirf import settings
from psirf.registry import load_registry
from transforms.profile import load_profile

REGISTRY = settings.REPO_ROOT / "bench" / "providers_bench.toml"
SEED = 6  # issue 6
LFPSE_SHARE = 0.05  # GP practices' share of the incidents


def providers(home: Path) -> list:
    return load_registry(REGISTRY, home=home)


def _trusts(home: Path) -> list:
    return [p for p in providers(home) if p.source_type in {"csv_drop"}]


def generate_full(home: Path, rows: int) -> dict:
    """Write every provider's full export under ``home/demo_feeds`` (reused if already there); return the manifest."""
    from demo.lfpse import DEFAULT_PRACTICES, generate_lfpse_feeds

    manifest_path = home / "demo_feeds" / "manifest.json"
    trusts = _trusts(home)
    per_trust = max(1, round(rows * (1 - LFPSE_SHARE)) // len(trusts))
    # the NDJSON export holds half of the generated events (the rest go to a Bundle file the bench does not load)
    per_practice = max(1, round(2 * rows * LFPSE_SHARE / len(DEFAULT_PRACTICES)))
    key = {"bench_incidents_per_provider": per_trust, "bench_lfpse_events_per_practice": per_practice}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if all(manifest.get(k) == v for k, v in key.items()):
            return manifest
    manifest = generate_demo_feeds(home, trusts, seed=SEED, incidents_per_provider=per_trust)
    lfpse = next(p for p in providers(home) if p.source_type in {"lfpse_fhir_drop"})
    manifest["lfpse"] = generate_lfpse_feeds(lfpse.feed.path, seed=SEED, events_per_practice=per_practice)
    manifest.update(key)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _delta_name(glob: str) -> str:
    return glob.replace("*", "zz_delta")  # sorts after the full export


def generate_delta(home: Path, changed: int) -> dict[str, int]:
    """Write ``changed`` edited incident records as a new export file per provider; returns rows per provider."""
    written: dict[str, int] = {}
    provs = _trusts(home)
    share = changed // len(provs)
    for i, provider in enumerate(provs):
        n = share + (1 if i < changed % len(provs) else 0)
        profile = load_profile(provider.profile, settings.profiles_dir())
        cols = profile.entity("incidents").columns
        glob = provider.feed.globs["incidents"]
        source = sorted(p for p in provider.feed.path.glob(glob) if "zz_delta" not in p.name)[0]
        encoding = "cp1252" if "web" in profile.source_system.lower() else "utf-8-sig"
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, encoding=encoding)
        frame = frame.drop_duplicates(subset=[cols["source_record_id"]])
        step = max(1, len(frame) // max(n, 1))
        picked = frame.iloc[::step].head(n).copy()
        updated = pd.to_datetime(picked[cols["source_updated_at"]], format=profile.datetime_format, errors="coerce")
        stamp = (updated.fillna(pd.Timestamp("2026-01-01")) + pd.Timedelta(days=1))
        picked[cols["source_updated_at"]] = stamp.dt.strftime(profile.datetime_format)
        picked[cols["description"]] = picked[cols["description"]] + " Update: reviewed at the weekly safety huddle."
        out = provider.feed.path / _delta_name(glob)
        picked.to_csv(out, index=False, encoding=encoding)
        written[provider.ods_code] = len(picked)
    return written


if __name__ == "__main__":
    import sys
    import time

    t = time.perf_counter()
    m = generate_full(Path(sys.argv[1]), int(sys.argv[2]))
    print(json.dumps({ods: {e: f["rows_in"] for e, f in p["files"].items()} for ods, p in m["providers"].items()}),
          f"{time.perf_counter() - t:.1f}s")
