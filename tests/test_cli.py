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
    _status_fits_80_columns_and_names_the_rejection(home_dir, path, monkeypatch)


def _status_fits_80_columns_and_names_the_rejection(home_dir, loaded, monkeypatch):
    from rich.console import Console

    import psirf.cli as cli

    bad = home_dir / "demo_feeds" / "RAJ" / "incidents_20261101_with_a_rather_long_export_name.csv"
    bad.write_text("Datix ID,Incident Date\r\n1,01/01/2026\r\n", encoding="utf-8")
    assert runner.invoke(app, ["load", str(bad), "--provider", "RAJ", "--json"]).exit_code == 1
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(cli, "out", Console())  # the console reads COLUMNS when it is made
    for args in (["status"], ["status", "-p", "RAJ"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert max(len(line) for line in lines) <= 80, "\n".join(lines)
        assert "…" not in result.stdout  # wrapped, never cut off
        text = " ".join(result.stdout.replace("│", " ").split())
        assert "rejected" in text and "Actual Harm" in text, result.stdout  # the reason, not only in --json
    only = runner.invoke(app, ["status", "-p", "RAJ"]).stdout
    assert "RQW" not in only and "RAJ" in only  # -p filters every table
    narrow, wide = runner.invoke(app, ["status"]), runner.invoke(app, ["status", "--wide"])
    assert wide.exit_code == 0 and wide.stdout.count("┳") == narrow.stdout.count("┳") + 2  # encoding and run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "{feed}", "--provider", "XYZ"], "provider 'XYZ' is not in the registry"),
        (["check", "/no/such/file.csv", "--provider", "RAJ", "--entity", "incidents"], "no such file"),
        (["check", "/no/such/notes.csv", "--provider", "RAJ"], "no such file"),
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
    rejects = tmp_path / "incidents_bad.rejects.csv"  # written for a rejected file too, with the reason
    assert out["rejects_file"] == str(rejects) and "Actual Harm" in rejects.read_text(encoding="utf-8")


def test_an_unreachable_warehouse_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", "postgresql+psycopg://nobody:secret@127.0.0.1:9/warehouse")
    for command in (["init"], ["status"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2
        assert "cannot connect to the warehouse at postgresql+psycopg://nobody:***@127.0.0.1:9/warehouse" in \
            " ".join(result.output.split())
        assert "Traceback" not in result.output and "secret" not in result.output
