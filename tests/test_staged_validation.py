"""The canonical suites run once per batch, in GX's SQL engine on DuckDB over the staged parts (issue 15): every
failing row is found however many there are and whichever chunk holds it, and a rule that cannot run stops the
batch instead of passing every row."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from expectations import canonical_suites
from psirf.pipeline import process_batch
from tests.exports import rows, write_export

EXTRACTED = "2026-11-30T02:00:00"
KEY = b"test-key-" + b"x" * 32


def _process(path: Path) -> dict:
    ref = {"batch_id": str(uuid.uuid4()), "run_id": None, "provider_ods": "RAJ", "entity": "incidents",
           "profile": "datix_web_listing_v1", "source_file": str(path), "checksum": "x", "extracted_at": EXTRACTED,
           "history": []}
    return process_batch(ref, key=KEY)


def test_every_failing_row_is_quarantined_in_every_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GX's SQL engine lists 20 failing rows unless told otherwise; 45 rows fail here, spread over 10 chunks."""
    monkeypatch.setenv("PSIRF_CHUNK_ROWS", "10")
    records = rows(100)
    for i in range(0, 100, 3)[:23]:
        records[i]["Incident Date"] = "01/01/1900"  # a placeholder date: date.placeholder
    for i in range(1, 100, 3)[:22]:
        records[i]["Reported Date"] = "01/01/2031"  # after the extraction: date.in_future
    processed = _process(write_export(tmp_path / "incidents_1.csv", records))
    assert (processed["status"], processed["rows_in"], processed["quarantined"]) == ("processed", 100, 45)
    assert processed["loadable"] == 55


def test_the_extraction_date_bounds_a_date_in_each_batch_as_its_own(tmp_path: Path) -> None:
    """One suite serves every batch: "in the future" is after *this* batch's extraction time."""
    records = rows(2)
    records[1]["Reported Date"] = "01/12/2026"  # the day after EXTRACTED
    processed = _process(write_export(tmp_path / "incidents_1.csv", records))
    assert processed["quarantined"] == 1
    later = {**_refless(tmp_path), "extracted_at": "2026-12-02T00:00:00"}
    assert process_batch(later, key=KEY)["quarantined"] == 0


def _refless(tmp_path: Path) -> dict:
    return {"batch_id": str(uuid.uuid4()), "run_id": None, "provider_ods": "RAJ", "entity": "incidents",
            "profile": "datix_web_listing_v1", "source_file": str(tmp_path / "incidents_1.csv"), "checksum": "x",
            "history": []}


def test_a_rule_that_cannot_run_fails_the_batch_instead_of_passing_every_row(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    original = canonical_suites.SUITES["incidents"]

    def broken(extracted_at: dt.datetime, patient_level: bool = False) -> list:
        return [*original(extracted_at, patient_level),
                canonical_suites._in_set("no_such_column", ["x"], "category")]

    monkeypatch.setitem(canonical_suites.SUITES, "incidents", broken)
    monkeypatch.setattr(canonical_suites, "_BUILT", {})
    with pytest.raises(RuntimeError, match="failed to run"):
        _process(write_export(tmp_path / "incidents_1.csv", rows(3)))
