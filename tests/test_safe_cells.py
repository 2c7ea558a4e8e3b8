"""Every CSV and XLSX the project writes shows formula-like text as text (OWASP CSV injection).

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would run as a formula when the file
is opened in a spreadsheet program: each writer must put a ``'`` in front of it, and leave numbers alone.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from psirf.cli import app
from reports.provider_feedback import Feedback, write_report
from reports.safe_cells import FORMULA_TRIGGERS, safe_cell, write_csv, write_rows, xlsx_row
from tests.exports import ROW, rows, write_export

PAYLOADS = ['=HYPERLINK("http://example.invalid/x","click")', "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)",
            "\t=1+1", "\r=1+1"]


def _csv_cells(path: Path, encoding: str = "utf-8-sig") -> list[str]:
    with path.open(encoding=encoding, newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def _xlsx_cells(path: Path) -> list[object]:
    book = load_workbook(path)
    cells = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula: {cell.value!r}"
                cells.append(cell.value)
    return cells


def _assert_safe(cells: list[object], expected: list[str]) -> None:
    texts = [c for c in cells if isinstance(c, str)]
    unsafe = [c for c in texts if c.startswith(FORMULA_TRIGGERS)]
    assert unsafe == []
    for payload in expected:
        assert any(c.startswith("'") and payload.strip() in c for c in texts), payload


@pytest.mark.parametrize("payload", PAYLOADS)
def test_safe_cell_prefixes_every_formula_trigger(payload):
    assert safe_cell(payload) == "'" + payload


def test_safe_cell_leaves_other_values_alone():
    assert [safe_cell(v) for v in ("Ward 5", "a=b", "", 3, -2, 1.5, None, pd.NA, float("nan"))] == \
        ["Ward 5", "a=b", "", 3, -2, 1.5, None, None, None]


def test_write_csv_write_rows_and_xlsx_row(tmp_path):
    frame = pd.DataFrame({"=header": PAYLOADS, "n": range(len(PAYLOADS))})
    write_csv(tmp_path / "a.csv", frame)
    cells = _csv_cells(tmp_path / "a.csv")
    _assert_safe(cells, [*PAYLOADS, "=header"])
    assert "6" in cells  # numbers are written as numbers

    write_rows(tmp_path / "b.csv", ["value"], [[p] for p in PAYLOADS])
    _assert_safe(_csv_cells(tmp_path / "b.csv"), PAYLOADS)

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for payload in PAYLOADS:
        sheet.append(xlsx_row([payload, -2]))
    book.save(tmp_path / "c.xlsx")
    cells_x = _xlsx_cells(tmp_path / "c.xlsx")
    _assert_safe(cells_x, PAYLOADS)
    assert -2 in cells_x


def test_the_provider_feedback_csv_and_workbook(tmp_path):
    """The outbox files (after a load) and the ``check`` report files are written by the same function."""
    held = pd.DataFrame({"source_file": ["=x.csv"] * len(PAYLOADS), "entity": "incidents",
                         "source_row_number": range(2, 2 + len(PAYLOADS)), "source_record_id": PAYLOADS,
                         "field": "Actual Harm", "rule_id": "code.unknown", "found": PAYLOADS, "expected": "a code"})
    batches = pd.DataFrame([{"batch_id": "b", "entity": "incidents", "source_file": "=x.csv", "status": "rejected",
                             "rows_in": 7, "loaded": 0, "quarantined": 7, "duplicates": 0,
                             "message": "-1 rows: =SUM(A1)"}])
    results = pd.DataFrame(columns=["layer", "suite", "rule_id", "field", "dimension", "severity", "scope",
                                    "rows_evaluated", "rows_failed"])
    fb = Feedback(provider_ods="RAJ", provider_name="@Trust", load_date="2026-11-01", mode="load", run_id="r",
                  batches=batches, results=results, quarantined=held, warnings=held.iloc[:2],
                  trend=pd.DataFrame(columns=["load_id", "loaded_at", "dimension", "score"]))
    files = write_report(fb, tmp_path / "outbox")
    _assert_safe(_csv_cells(Path(files["csv"])), [*PAYLOADS, "=x.csv"])
    _assert_safe(_xlsx_cells(Path(files["xlsx"])), [*PAYLOADS, "=x.csv", "-1 rows: =SUM(A1)", "@Trust"])


def test_psirf_check_rejects_file_and_report(tmp_path, monkeypatch):
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
    bad = [{**ROW, "Datix ID": payload, "Actual Harm": payload} for payload in PAYLOADS]  # code.unknown rows
    path = write_export(tmp_path / "=HYPERLINK(1)_incidents.csv", [*rows(len(PAYLOADS) + 1), *bad],
                        encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    result = CliRunner().invoke(app, ["check", str(path), "--provider", "RAJ", "--entity", "incidents",
                                      "--rejects", str(rejects), "--report-dir", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    expected = [p.strip() for p in PAYLOADS]
    _assert_safe(_csv_cells(rejects, encoding="utf-8"), expected)
    [report_csv] = (tmp_path / "report").glob("*.csv")
    [report_xlsx] = (tmp_path / "report").glob("*.xlsx")
    _assert_safe(_csv_cells(report_csv), [*expected, "=HYPERLINK(1)_incidents.csv"])
    _assert_safe(_xlsx_cells(report_xlsx), [*expected, "=HYPERLINK(1)_incidents.csv"])
