"""Batch files are transformed and validated in chunks (``PSIRF_CHUNK_ROWS``) so memory does not grow with the
file; the result must be exactly what processing the file whole gives: the same counts, the same quarantined
rows and reasons, the same warehouse."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors.csv_drop.reader import iter_csv, read_csv
from psirf.pipeline import extract_provider, load_processed, process_batch, run_provider
from psirf.registry import load_registry
from tests.test_pipeline_end_to_end import PROVIDERS, assert_planted_counts
from warehouse.reference import seed_organisations


def test_every_planted_defect_is_found_when_files_are_read_in_small_chunks(demo_estate, warehouse_url,
                                                                            migrated_engine, monkeypatch):
    home, manifest, _ = demo_estate
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PSIRF_CHUNK_ROWS", "15")  # every demo file spans several chunks
    seed_organisations(migrated_engine, load_registry(home=home))
    results = {ods: run_provider(ods, run_id="chunked", engine=migrated_engine) for ods in PROVIDERS}
    assert_planted_counts(manifest, migrated_engine, results)


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="cp1252", newline="") as fh:
        return list(csv.reader(fh))


def _quarantined(engine, batch_id: str) -> set[tuple[int, str]]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT source_row_number, rule_id FROM quarantine WHERE batch_id = :b"),
                                {"b": batch_id}).all())


@pytest.fixture
def raj_incidents(demo_estate, tmp_path, monkeypatch):
    """RAJ's demo incident export with, appended at its end (so in another chunk than the originals): an exact copy
    of its first data row, and its second data row again with a different narrative (a conflicting duplicate)."""
    home, _, _ = demo_estate
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'wh.duckdb'}")
    folder = home / "demo_feeds" / "RAJ"
    path = next(folder.glob("incidents_*.csv"))
    rows = _rows(path)
    header, first, second = rows[0], rows[1], list(rows[2])
    second[header.index("What Happened?")] = "A different account of the same incident."
    with path.open("a", encoding="cp1252", newline="") as fh:
        csv.writer(fh, lineterminator="\r\n").writerows([first, second])
    for other in folder.glob("actions_*.csv"):
        other.unlink()
    return path, len(rows) - 1 + 2


def _process(monkeypatch, chunk_rows: int) -> dict:
    monkeypatch.setenv("PSIRF_CHUNK_ROWS", str(chunk_rows))
    from warehouse.db import make_engine
    from warehouse.migrate import upgrade

    engine = make_engine()
    upgrade(engine)
    try:
        [ref] = extract_provider("RAJ", engine=engine)
        processed = process_batch(ref)
        result = load_processed(processed, engine=engine)
        return {"result": result, "quarantined": _quarantined(engine, result["batch_id"])}
    finally:
        with engine.begin() as conn:
            for table in ("quarantine", "incident_patient", "incident", "batch_ledger", "dq_rule_result",
                          "dq_dimension_score", "dq_row_issue"):
                conn.execute(sa.text(f"DELETE FROM {table}"))
        engine.dispose()


def test_duplicates_across_chunks_count_as_within_one(raj_incidents, monkeypatch):
    path, data_rows = raj_incidents
    whole = _process(monkeypatch, 1_000_000)
    chunked = _process(monkeypatch, 10)
    keys = ("rows_in", "loaded", "quarantined", "duplicates")
    assert [whole["result"][k] for k in keys] == [chunked["result"][k] for k in keys]
    assert whole["result"]["rows_in"] == data_rows
    assert whole["quarantined"] == chunked["quarantined"]
    last = data_rows + 1  # spreadsheet row of the appended conflicting copy (header = row 1)
    assert (3, "record.conflicting_duplicate") in chunked["quarantined"]  # the original, in the first chunk
    assert (last, "record.conflicting_duplicate") in chunked["quarantined"]  # its copy, in the last chunk
    assert whole["result"]["duplicates"] >= 1  # the exact copy of row 2


def test_patient_rows_of_one_record_stay_in_one_chunk(tmp_path):
    path = tmp_path / "patients.csv"
    rows = [["Ref", "Patient"]] + [[f"E{n // 3}", str(n % 3)] for n in range(20)]  # three rows per event
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    chunks = list(iter_csv(path, chunk_rows=4, group_column="Ref"))
    assert sum(len(c.frame) for c in chunks) == 20
    seen: dict[str, int] = {}
    for i, chunk in enumerate(chunks):
        for ref in chunk.frame["Ref"].unique():
            assert seen.setdefault(ref, i) == i, f"{ref} split across chunks"
    assert [n for c in chunks for n in c.row_numbers] == list(range(2, 22))


def test_streamed_reading_keeps_rows_and_rejections_of_the_whole_read(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("A,B\r\n1,caf\xe9\r\n2\r\n3,x\r\n".encode("cp1252"))
    whole = read_csv(path)
    parts = list(iter_csv(path, chunk_rows=1))
    assert whole.encoding == parts[0].encoding == "cp1252"
    assert [n for p in parts for n in p.row_numbers] == whole.row_numbers == [2, 4]
    assert [m for p in parts for m in p.malformed] == whole.malformed == [(3, "row.malformed",
                                                                           "1 fields where the header has 2")]


def test_an_lfpse_ndjson_export_streams_in_chunks_with_the_rows_of_a_whole_read(tmp_path):
    from connectors.lfpse_fhir_drop.family import FAMILY, renumber_rows
    from connectors.lfpse_fhir_drop.reader import read_fhir
    from demo.lfpse import NDJSON_FILE, generate_lfpse_feeds
    from psirf import settings
    from psirf.registry import get_provider
    from transforms.profile import load_profile

    generate_lfpse_feeds(tmp_path, events_per_practice=12)
    path = tmp_path / NDJSON_FILE
    with path.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")  # a malformed line is kept aside, in whichever chunk it falls
    provider = get_provider("QH8")
    profile = load_profile(provider.profile, settings.profiles_dir())
    whole = renumber_rows(read_fhir(path), always=True)
    chunks = list(FAMILY.iter_chunks(path, provider, "incidents", profile, chunk_rows=5))
    assert len(chunks) > 3
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    pd.testing.assert_frame_equal(frame, whole.frame)
    assert [n for c in chunks for n in c.row_numbers] == whole.row_numbers
    assert [m for c in chunks for m in c.malformed] == whole.malformed != []
