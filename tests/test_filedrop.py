"""The CSV file-drop connector: encodings, multi-line fields, ragged rows, checksums, bad files."""

import pytest

from connectors.base import discover_files
from connectors.csv_drop.reader import read_csv
from psirf.errors import BatchRejected

HEADER = "Datix ID,What Happened?,Harm\r\n"


def test_utf8_bom_detected_and_multiline_field_kept(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + '1,"Line one\r\nline two, with comma",Low\r\n2,Zoë,None\r\n').encode())
    batch = read_csv(path)
    assert batch.encoding == "utf-8-sig"
    assert batch.columns == ["Datix ID", "What Happened?", "Harm"]
    assert batch.frame["What Happened?"].tolist() == ["Line one\r\nline two, with comma", "Zoë"]
    assert batch.row_numbers == [2, 3]


def test_windows_1252_detected(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes((HEADER + "1,Cost £5 – “urgent”,Low\r\n").encode("cp1252"))
    batch = read_csv(path)
    assert batch.encoding == "cp1252"
    assert batch.frame.loc[0, "What Happened?"] == "Cost £5 – “urgent”"


def test_plain_utf8_detected(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "1,café,Low\r\n", encoding="utf-8")
    assert read_csv(path).encoding == "utf-8"


def test_undecodable_file_rejected_with_file_name(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(HEADER.encode() + b"1,\x81\x8d\x8f\x90,Low\r\n")  # bytes undefined in cp1252, invalid UTF-8
    with pytest.raises(BatchRejected, match=r"bad\.csv.*cannot be decoded"):
        read_csv(path)


@pytest.mark.parametrize("content", [b"", b"  \r\n"])
def test_empty_file_rejected(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(BatchRejected, match="empty"):
        read_csv(path)


def test_ragged_row_kept_aside_with_row_number(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "1,ok,Low\r\n2,too,many,fields\r\n3,ok,None\r\n", encoding="utf-8")
    batch = read_csv(path)
    assert batch.frame["Datix ID"].tolist() == ["1", "3"]
    assert batch.malformed == [(3, "row.malformed", "4 fields where the header has 3")]


def test_discover_matches_globs_and_skips_loaded_checksums(tmp_path):
    (tmp_path / "incidents_1.csv").write_text(HEADER + "1,a,Low\r\n")
    (tmp_path / "incidents_2.csv").write_text(HEADER + "2,b,Low\r\n")
    (tmp_path / "actions_1.csv").write_text("Action ID\r\n1\r\n")
    (tmp_path / "notes.txt").write_text("ignore me")
    globs = {"incidents": "incidents_*.csv", "safety_actions": "actions_*.csv"}
    found = discover_files(tmp_path, globs)
    assert [(f.path.name, f.entity) for f in found] == [
        ("incidents_1.csv", "incidents"), ("incidents_2.csv", "incidents"), ("actions_1.csv", "safety_actions")]
    again = discover_files(tmp_path, globs, skip_checksums=frozenset({found[0].checksum}))
    assert [f.path.name for f in again] == ["incidents_2.csv", "actions_1.csv"]
