"""Deadlines: a provider API that hangs fails its extract within the extract's deadline (naming provider, endpoint
and how long it waited) and commits nothing; every DAG task carries an ``execution_timeout`` from settings."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.rest_api.client import ApiDeadlineExceeded, RestApiConfig, extract
from demo.mock_provider_api import MockEntity, MockProvider, MockProviderApi, start

ROOT = Path(__file__).resolve().parent.parent
FMT = "%d/%m/%Y %H:%M:%S"


@pytest.fixture
def server() -> Iterator[MockProviderApi]:
    records = [{"recordid": f"INC{i}", "updateddate": f"0{i}/03/2026 09:00:00"} for i in range(1, 4)]
    srv = start(providers={"R1L": MockProvider("R1L", {"incidents": MockEntity(
        records=records, primary_key="recordid", cursor_field="updateddate", cursor_format=FMT)})})
    try:
        yield srv
    finally:
        srv.stop()


def _api(srv: MockProviderApi, total: float) -> dict[str, Any]:
    """The shipped per-request settings (read timeout 30 s, 5 retries) with a short overall deadline."""
    return {"base_url": srv.provider_url("R1L"), "auth": {"type": "none"},
            "timeouts": {"connect": 5.0, "read": 30.0, "total": total},
            "retry": {"max_retries": 5, "backoff_factor": 0.5, "backoff_max": 60, "max_retry_after": 300},
            "endpoints": {"incidents": {"path": "incidents", "primary_key": "recordid", "cursor_field": "updateddate",
                                        "cursor_format": FMT}}}


def test_a_hanging_api_fails_the_extract_within_its_deadline(server):
    server.set_faults(slow_seconds=120)  # every data request hangs
    started = time.monotonic()
    with pytest.raises(ApiDeadlineExceeded) as info:
        extract(RestApiConfig.from_dict("R1L", _api(server, total=2.0)), "incidents")
    waited = time.monotonic() - started
    assert 1.9 < waited < 4.0  # not 6 x 30 s of read timeouts
    message = str(info.value)
    assert message.startswith(f"provider R1L, incidents endpoint GET {server.provider_url('R1L')}/incidents: ")
    assert "did not finish within its deadline of 2 s (waited 2." in message and "nothing was landed" in message


def test_retry_waits_never_run_past_the_deadline(server):
    server.set_faults(rate_limit=100, retry_after=30)  # every request: 429, come back in 30 s
    started = time.monotonic()
    with pytest.raises(ApiDeadlineExceeded, match="deadline of 2 s"):
        extract(RestApiConfig.from_dict("R1L", _api(server, total=2.0)), "incidents")
    assert time.monotonic() - started < 2.0  # gave up at once instead of sleeping 30 s past it


def test_a_timed_out_extract_commits_nothing(server, tmp_path, monkeypatch):
    from psirf.pipeline import extract_provider
    from warehouse.db import make_engine
    from warehouse.migrate import upgrade

    home = tmp_path / "home"
    registry = tmp_path / "providers.toml"
    registry.write_text(f"""
[[provider]]
ods_code = "R1L"
name = "A trust with a REST API"
source_type = "rest_api"
profile = "datix_cloud_listing_v1"
[provider.api]
base_url = "{server.provider_url('R1L')}"
[provider.api.timeouts]
read = 30.0
total = 1.5
[provider.api.endpoints.incidents]
path = "incidents"
primary_key = "recordid"
cursor_field = "updateddate"
cursor_format = "{FMT}"
""", encoding="utf-8")
    monkeypatch.setenv("PSIRF_REGISTRY", str(registry))
    monkeypatch.setenv("PSIRF_HOME", str(home))
    engine = make_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    upgrade(engine)
    server.set_faults(slow_seconds=120)
    try:
        with pytest.raises(ApiDeadlineExceeded, match="provider R1L, incidents endpoint"):
            extract_provider("R1L", engine=engine)
        with engine.connect() as conn:
            for table in ("batch_ledger", "source_watermark", "incident"):
                assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one() == 0
    finally:
        engine.dispose()
    assert not (home / "landing" / "R1L").exists() or list((home / "landing" / "R1L").iterdir()) == []


def _dag(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"_{name}", ROOT / "dags" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return next(v for v in vars(module).values() if type(v).__name__ == "DAG")


@pytest.mark.parametrize("name", ["psirf_nightly", "psirf_system_report"])
def test_every_dag_task_carries_the_execution_timeout_from_settings(name, monkeypatch):
    assert all(t.execution_timeout == timedelta(hours=2) for t in _dag(name).tasks)
    monkeypatch.setenv("PSIRF_TASK_TIMEOUT_SECONDS", "1234")
    tasks = _dag(name).tasks
    assert tasks and all(t.execution_timeout == timedelta(seconds=1234) for t in tasks)
