"""The pseudonymisation key: the public demo key only in demo mode, and never a guessable key."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from psirf.cli import app
from psirf.errors import ConfigError
from psirf.secrets import DEMO_KEY, key_problem, pseudonymisation_key
from tests.exports import rows, write_export

GOOD_KEYS = ["TEST-ONLY-key-for-pseudonymisation-tests-0123", "q5Yc2vJ8N0wRz7LmT3bH9sKp1XgD4fUa",
             "a3f9c2e81b7d4056e9a2c4f7b1d3e580"]  # the tests' key, base64-like and hex random keys
WEAK_KEYS = {
    "short-but-random-9Xq": "fewer than 32",
    "abababababababababababababababababab": "different characters",
    "12345678901234567890123456789012": "repeated",
    "1234567801234567801234567801234567": "different characters",
    "0123456789abcdef0123456789abcdef": "repeated",
    "aaaaaaaaaaaaaaaaaaaaaaaabcdefghijklmnop": "bits of entropy",
}


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_random_looking_keys_are_accepted(key, monkeypatch):
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", key)
    monkeypatch.delenv("PSIRF_DEMO", raising=False)
    assert pseudonymisation_key() == key.encode()


@pytest.mark.parametrize(("key", "why"), WEAK_KEYS.items())
def test_guessable_keys_are_refused_saying_why(key, why, monkeypatch):
    assert why in (key_problem(key) or "")
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", key)
    with pytest.raises(ConfigError, match="PSIRF_PSEUDONYMISATION_KEY is too guessable"):
        pseudonymisation_key()


def test_the_demo_key_needs_demo_mode(monkeypatch):
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", DEMO_KEY)
    monkeypatch.delenv("PSIRF_DEMO", raising=False)
    with pytest.raises(ConfigError, match="PSIRF_PSEUDONYMISATION_KEY is the published demo key"):
        pseudonymisation_key()
    monkeypatch.setenv("PSIRF_DEMO", "0")
    with pytest.raises(ConfigError):
        pseudonymisation_key()
    monkeypatch.setenv("PSIRF_DEMO", "1")
    assert pseudonymisation_key() == DEMO_KEY.encode()


@pytest.mark.parametrize("command", ["run", "load", "check"])
def test_a_run_with_the_demo_key_is_refused_in_one_line(command, tmp_path, monkeypatch):
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'w.duckdb'}")
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", DEMO_KEY)
    monkeypatch.delenv("PSIRF_DEMO", raising=False)
    path = write_export(tmp_path / "incidents_1.csv", rows(2))
    args = {"run": ["run", "-p", "RAJ"], "load": ["load", str(path), "-p", "RAJ"],
            "check": ["check", str(path), "-p", "RAJ"]}[command]
    if command != "check":  # a migrated warehouse: the refusal is the key's, not "run psirf init"
        from warehouse.migrate import upgrade

        upgrade(f"duckdb:///{tmp_path / 'w.duckdb'}")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "PSIRF_PSEUDONYMISATION_KEY is the published demo key" in " ".join(result.output.split())
    assert "PSIRF_DEMO=1" in " ".join(result.output.split())
