"""The `psirf` CLI: JSON output, clear errors without tracebacks, check writes nothing to the warehouse."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from psirf.cli import app

runner = CliRunner()
COUNTS = {"rows_in", "loaded", "quarantined", "duplicates", "status"}


@pytest.fixture
def home(demo_estate):
    home, manifest, _ = demo_estate
    return home, manifest


def _json(result):
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_check_reports_counts_and_writes_nothing_to_the_warehouse(home, tmp_path, monkeypatch):
    home_dir, manifest = home
    warehouse = tmp_path / "never.duckdb"
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", f"duckdb:///{warehouse}")
    expected = manifest["providers"]["RAJ"]["files"]["incidents"]
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(app, ["check", str(home_dir / expected["path"]), "--provider", "raj", "--json",
                                 "--rejects", str(rejects)])
    out = _json(result)
    assert set(out) >= COUNTS
    assert (out["rows_in"], out["loaded"], out["quarantined"], out["duplicates"]) == (
        expected["rows_in"], expected["expected_loaded"], expected["expected_quarantined"],
        expected["expected_duplicates"])
    assert not warehouse.exists()
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("source_row_number,source_record_id,rule_id,field,found,expected")
    assert len(lines) - 1 >= expected["expected_quarantined"]


def test_load_then_reload_is_skipped(home, warehouse_url, migrated_engine, monkeypatch):
    home_dir, manifest = home
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    path = home_dir / manifest["providers"]["RQW"]["files"]["incidents"]["path"]
    first = _json(runner.invoke(app, ["load", str(path), "--provider", "RQW", "--json"]))
    assert first["status"] == "loaded"
    assert first["rows_in"] == first["loaded"] + first["quarantined"] + first["duplicates"]
    again = _json(runner.invoke(app, ["load", str(path), "--provider", "RQW", "--json"]))
    assert again["status"] == "skipped"
    status = _json(runner.invoke(app, ["status", "--json"]))
    assert status["counts"]["incident"] == first["loaded"]
    assert [b["status"] for b in status["batches"]] == ["loaded"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "{feed}", "--provider", "XYZ"], "provider 'XYZ' is not in the registry"),
        (["check", "/no/such/file.csv", "--provider", "RAJ", "--entity", "incidents"], "no such file"),
        (["check", "{other}", "--provider", "RAJ"], "cannot tell which entity"),
    ],
)
def test_user_mistakes_give_one_clear_line_not_a_traceback(home, tmp_path, args, message):
    home_dir, manifest = home
    feed = str(home_dir / manifest["providers"]["RAJ"]["files"]["incidents"]["path"])
    other = tmp_path / "notes.csv"
    other.write_text("a,b\r\n1,2\r\n")
    result = runner.invoke(app, [a.format(feed=feed, other=other) for a in args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_check_of_a_file_missing_a_column_reports_rejection(home, tmp_path):
    bad = tmp_path / "incidents_bad.csv"
    bad.write_text("Datix ID,Incident Date\r\n1,01/01/2026\r\n", encoding="utf-8")
    out = _json(runner.invoke(app, ["check", str(bad), "--provider", "RAJ", "--json"]))
    assert out["status"] == "rejected" and "'Actual Harm' (for physical_harm)" in out["message"]
    assert (out["rows_in"], out["loaded"], out["quarantined"]) == (1, 0, 1)
    assert Path(str(bad)).name in str(out["source_file"])


def test_an_unreachable_warehouse_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", "postgresql+psycopg://nobody:secret@127.0.0.1:9/warehouse")
    for command in (["init"], ["status"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2
        assert "cannot connect to the warehouse at postgresql+psycopg://nobody:***@127.0.0.1:9/warehouse" in \
            " ".join(result.output.split())
        assert "Traceback" not in result.output and "secret" not in result.output
