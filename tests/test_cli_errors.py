"""Every ``psirf`` command turns warehouse problems into one line and exit 2: not migrated, locked by another
process (named), unreachable. ``psirf load`` before ``psirf init`` leaves no empty DuckDB file behind."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from psirf.cli import app
from tests.exports import rows, write_export
from warehouse.migrate import upgrade

runner = CliRunner()
KEY = "TEST-ONLY-key-for-pseudonymisation-tests-0123"
COMMANDS = [["load", "{file}", "-p", "RAJ"], ["run", "-p", "RAJ"], ["status"], ["marts"], ["report", "--system"],
            ["access"], ["quality", "scores", "-p", "RAJ"], ["quality", "report", "-p", "RAJ"]]


@pytest.fixture
def export(tmp_path, monkeypatch):
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", KEY)
    (tmp_path / "home" / "demo_feeds" / "RAJ").mkdir(parents=True)
    return write_export(tmp_path / "incidents_1.csv", rows(2))


def _one_line(result, *expected: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_before_init_every_command_says_run_init_and_creates_no_file(command, export, tmp_path, monkeypatch):
    warehouse = tmp_path / "var" / "warehouse.duckdb"
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", f"duckdb:///{warehouse}")
    result = runner.invoke(app, [a.format(file=export) for a in command])
    _one_line(result, f"there is no warehouse at {warehouse}: run `psirf init` first")
    assert not warehouse.exists()


def test_an_empty_database_is_not_migrated(export, warehouse_url, monkeypatch):
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    if warehouse_url.startswith("duckdb"):
        from warehouse.db import make_engine

        make_engine(warehouse_url).connect().close()  # the file exists, with no tables
    for command in (["load", str(export), "-p", "RAJ"], ["status"]):
        _one_line(runner.invoke(app, command), "is not migrated: run `psirf init`")


def test_a_locked_duckdb_file_names_the_process_holding_it(export, tmp_path, monkeypatch):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    upgrade(url)
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", url)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(60)", str(tmp_path / "w.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        for command in (["load", str(export), "-p", "RAJ"], ["init"], ["status"], ["marts"]):
            _one_line(runner.invoke(app, command), f"is locked by process {holder.pid} (",
                      "DuckDB lets one process open it at a time")
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    assert runner.invoke(app, ["status"]).exit_code == 0


@pytest.mark.parametrize("command", [["init"], *COMMANDS], ids=lambda c: " ".join(c[:2]))
def test_an_unreachable_warehouse_is_one_line(command, export, monkeypatch):
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", "postgresql+psycopg://nobody:secret@127.0.0.1:9/warehouse")
    result = runner.invoke(app, [a.format(file=export) for a in command])
    line = _one_line(result, "cannot connect to the warehouse at postgresql+psycopg://nobody:***@127.0.0.1:9/")
    assert "secret" not in line


def test_a_warehouse_behind_the_code_says_upgrade(export, tmp_path, monkeypatch):
    from warehouse.migrate import downgrade, head

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    upgrade(url)
    downgrade(url, "0004_marts")
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", url)
    _one_line(runner.invoke(app, ["load", str(export), "-p", "RAJ"]),
              f"is at migration 0004_marts, this version needs {head()}: run `psirf init` to upgrade it")
    assert runner.invoke(app, ["init"]).exit_code == 0
