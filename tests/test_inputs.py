"""What providers really send: UTF-16 "Unicode Text" exports, undecodable files, very long fields, and files
rejected while reading (still counted in the ledger)."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors.csv_drop.reader import read_csv
from psirf.errors import BatchRejected
from psirf.pipeline import check_file, load_file
from tests.exports import ROW, rows, write_export

KEY = "TEST-ONLY-key-for-pseudonymisation-tests-0123"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", KEY)
    return tmp_path


def _ledger(engine):
    with engine.connect() as conn:
        return pd.read_sql(sa.text("SELECT * FROM batch_ledger ORDER BY started_at, batch_id"), conn)


@pytest.mark.parametrize("delimiter", ["\t", ","])
def test_utf16_with_a_bom_reads_the_same_rows_as_utf8(env, delimiter):
    records = rows(3, **{"What Happened?": "Fall in bay – “café” ß\nsecond line"})
    utf8 = read_csv(write_export(env / "incidents_a.csv", records, encoding="utf-8"))
    utf16 = read_csv(write_export(env / "incidents_b.csv", records, encoding="utf-16", delimiter=delimiter))
    assert utf16.encoding == "utf-16" and utf8.encoding == "utf-8"
    assert utf16.columns == utf8.columns
    pd.testing.assert_frame_equal(utf16.frame, utf8.frame)
    assert utf16.row_numbers == utf8.row_numbers == [2, 3, 4]


def test_a_utf16_export_loads_the_same_records_as_its_utf8_twin(env, migrated_engine):
    records = rows(4, **{"Location (Exact)": "Bay – 4"})
    first = load_file(write_export(env / "incidents_1.csv", records, encoding="utf-16", delimiter="\t"), "RAJ",
                      engine=migrated_engine)
    twin = load_file(write_export(env / "incidents_2.csv", records, encoding="utf-8"), "RAJ", engine=migrated_engine)
    assert (first["status"], first["rows_in"], first["loaded"], first["inserted"]) == ("loaded", 4, 4, 4)
    assert (twin["rows_in"], twin["inserted"], twin["updated"], twin["unchanged"]) == (4, 0, 0, 4)
    ledger = _ledger(migrated_engine)
    assert dict(zip(ledger["source_file"].str[-15:], ledger["encoding"], strict=True)) == {
        "incidents_1.csv": "utf-16", "incidents_2.csv": "utf-8"}


def test_an_undecodable_file_names_the_encodings(env):
    path = env / "incidents_x.csv"
    path.write_bytes(write_export(env / "ok.csv", rows(1)).read_bytes() + b"caf\x81\r\n")
    with pytest.raises(BatchRejected, match=r"cannot be decoded as UTF-8, Windows-1252 or UTF-16 .*byte 0x81"):
        read_csv(path)
    no_bom = env / "incidents_y.csv"
    no_bom.write_bytes(write_export(env / "ok.csv", rows(1)).read_text(encoding="cp1252").encode("utf-16-le"))
    with pytest.raises(BatchRejected, match="looks like UTF-16 without a byte-order mark"):
        read_csv(no_bom)


def test_a_batch_rejected_while_reading_counts_every_row(env, migrated_engine):
    text = write_export(env / "ok.csv", rows(20)).read_text(encoding="cp1252")
    path = env / "incidents_nul.csv"
    path.write_bytes(text.replace("Wrong dose given.", "Wrong\x00dose", 1).encode("cp1252"))
    with pytest.raises(BatchRejected, match="NUL bytes"):
        load_file(path, "RAJ", engine=migrated_engine)
    ledger = _ledger(migrated_engine)
    assert list(ledger["status"]) == ["rejected"]
    assert (ledger["rows_in"][0], ledger["quarantined"][0], ledger["loaded"][0]) == (20, 20, 0)
    assert check_file(path, "RAJ", report_dir=env / "r")["rows_in"] == 20


def test_a_long_narrative_loads_and_only_an_oversized_field_holds_back_its_row(env, migrated_engine, monkeypatch):
    long_text = "word " * 200_000  # 1,000,000 characters: a real (if long) narrative
    records = rows(4)
    records[0]["What Happened?"] = long_text
    records[2]["Lessons Learned"] = "x" * (1024 * 1024 + 1)
    result = load_file(write_export(env / "incidents_long.csv", records), "RAJ", engine=migrated_engine)
    assert (result["status"], result["rows_in"], result["loaded"], result["quarantined"]) == ("loaded", 4, 3, 1)
    with migrated_engine.connect() as conn:
        held = conn.execute(sa.text("SELECT source_row_number, rule_id, found FROM quarantine")).all()
        stored = conn.execute(sa.text("SELECT LENGTH(description) FROM incident WHERE source_record_id = '1001'"))
        assert stored.scalar_one() == len(long_text.strip())
    assert [(r[0], r[1]) for r in held] == [(4, "field.too_long")]
    assert "'Lessons Learned' has 1,048,577 characters" in held[0][2] and "xxx" not in held[0][2]


def test_a_short_text_field_over_its_column_length_quarantines_one_row(env, migrated_engine):
    records = rows(3)
    records[1]["Location (Exact)"] = "Ward " + "9" * 300
    result = load_file(write_export(env / "incidents_loc.csv", records), "RAJ", engine=migrated_engine)
    assert (result["status"], result["loaded"], result["quarantined"]) == ("loaded", 2, 1)
    with migrated_engine.connect() as conn:
        held = conn.execute(sa.text("SELECT rule_id, field, found FROM quarantine")).one()
    assert held == ("text.too_long", "Location (Exact)", "305 characters, more than 200")


def test_the_row_template_is_valid(env):
    assert check_file(write_export(env / "incidents_t.csv", [ROW]), "RAJ", report_dir=env / "t")["loaded"] == 1
