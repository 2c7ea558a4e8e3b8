"""``psirf check`` writes the provider's feedback report without touching the warehouse, and it renders in Chromium.

The screenshot test needs headless Chromium (``scripts/ensure_chromium.sh`` installs it): it skips locally when
Chromium is missing and fails under CI (``CI=true``), where a skip would hide a broken report.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess

import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from demo.feeds import generate_demo_feeds
from psirf.cli import app

runner = CliRunner()


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("headless Chromium is required under CI: run scripts/ensure_chromium.sh")
        pytest.skip("chromium is not installed (scripts/ensure_chromium.sh installs it)")
    return found


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_check_writes_the_report_and_it_renders_with_its_charts(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("PSIRF_HOME", str(home))
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
    warehouse = tmp_path / "never.duckdb"
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", f"duckdb:///{warehouse}")
    manifest = generate_demo_feeds(home, incidents_per_provider=60)
    expected = manifest["providers"]["RAJ"]["files"]["incidents"]
    out = tmp_path / "report"

    result = runner.invoke(app, ["check", str(home / expected["path"]), "--provider", "RAJ", "--report-dir", str(out)])

    assert result.exit_code == 0, result.output
    assert not warehouse.exists()
    [html] = out.glob("*.html")
    [xlsx] = out.glob("*.xlsx")
    [csv_file] = out.glob("*.csv")
    assert str(html) in result.output.replace("\n", "")
    rows = pd.read_csv(csv_file, encoding="utf-8-sig", dtype=str)
    assert rows.groupby("Rule")["Row"].nunique().to_dict() == expected["quarantined_by_rule"]
    sheet = list(load_workbook(xlsx, read_only=True)["Held back rows"].iter_rows(values_only=True))
    assert len(sheet) - 1 == len(rows) and sheet[0][:4] == ("Source file", "Entity", "Row", "Record id")
    text = html.read_text(encoding="utf-8")
    assert text.count("<svg") >= 3 and "<script" not in text.lower() and "Check of a file before it is sent" in text

    chromium = _chromium()
    png = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--screenshot={png}",
                    "--window-size=1200,2000", html.as_uri()], check=True, capture_output=True, timeout=120)
    data = png.read_bytes()
    assert _png_size(data) == (1200, 2000)
    assert len(data) > 60_000  # a page of tables and three charts, not a blank or error page


def test_check_of_a_rejected_file_still_writes_a_report(tmp_path, monkeypatch):
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
    bad = tmp_path / "incidents_bad.csv"
    bad.write_text("Datix ID,Incident Date\r\n1,01/01/2026\r\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(bad), "--provider", "RAJ", "--report-dir", str(tmp_path / "r")])
    assert result.exit_code == 1
    summary = next((tmp_path / "r").glob("summary_*.txt")).read_text(encoding="utf-8")
    assert "REJECTED" in summary and "raw.column_missing" in summary and "Actual Harm" in summary
