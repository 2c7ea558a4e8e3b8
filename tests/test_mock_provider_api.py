"""The local provider API: serves exactly what the demo generator wrote, in every page shape, with auth and faults,
and runs as a foreground command that ``make run`` can start and stop."""

from __future__ import annotations

import csv
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.rest_api.client import RestApiConfig, extract
from demo.feeds import generate_demo_feeds
from demo.mock_provider_api import Faults, MockAuth, MockProviderApi, load_demo_providers, start

REPO = Path(__file__).resolve().parents[1]
HEADERS = {"Authorization": "Bearer tok"}



@pytest.fixture(scope="module", autouse=True)
def _five_csv_trusts(all_csv_registry: Path) -> None:
    """These tests are about CSV exports: use the registry where every trust sends them."""

@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    home = tmp_path_factory.mktemp("home")
    return home, generate_demo_feeds(home, incidents_per_provider=20)


@pytest.fixture
def server(demo_home: tuple[Path, dict[str, Any]]) -> Iterator[MockProviderApi]:
    providers = load_demo_providers(demo_home[0] / "demo_feeds")
    auth = MockAuth(required=True, bearer_tokens=frozenset({"tok"}), api_keys=frozenset({"key"}),
                    clients={"cid": "csecret"})
    srv = start(providers=providers, auth=auth)
    try:
        yield srv
    finally:
        srv.stop()


def get(srv: MockProviderApi, path: str, headers: dict[str, str] | None = None, **params: Any) -> requests.Response:
    return requests.get(f"{srv.url}{path}", params=params, headers=HEADERS if headers is None else headers,
                        timeout=(1, 5))


def test_serves_every_row_the_demo_generator_wrote(demo_home: tuple[Path, dict[str, Any]],
                                                   server: MockProviderApi) -> None:
    home, manifest = demo_home
    for ods, entry in manifest["providers"].items():
        for entity, f in entry["files"].items():
            records = server.state.providers[ods].entities[entity].records
            assert len(records) == f["rows_in"], (ods, entity)
    r1l = server.state.providers["R1L"].entities["incidents"]
    assert (r1l.primary_key, r1l.cursor_field, r1l.cursor_format) == ("recordid", "updateddate", "%d/%m/%Y %H:%M:%S")
    raj = server.state.providers["RAJ"].entities["incidents"]  # a display-name export: its own profile's columns
    assert (raj.primary_key, raj.cursor_field) == ("Datix ID", "Last Updated")
    with (home / manifest["providers"]["R1L"]["files"]["incidents"]["path"]).open(encoding="utf-8-sig") as fh:
        first = next(csv.DictReader(fh))
    served = next(r for r in r1l.records if r["recordid"] == first["recordid"])
    assert served == {k: (v or None) for k, v in first.items()}  # empty cells become null


def test_a_rest_extract_of_a_demo_provider_matches_the_manifest(demo_home: tuple[Path, dict[str, Any]],
                                                                server: MockProviderApi) -> None:
    files = demo_home[1]["providers"]["R1L"]["files"]["incidents"]
    config = RestApiConfig.from_dict("R1L", {
        "base_url": server.provider_url("R1L"), "auth": {"type": "bearer", "conn_id": "r1l"},
        "pagination": {"page_size": 4},
        "endpoints": {"incidents": {"path": "incidents", "primary_key": "recordid", "cursor_field": "updateddate",
                                    "cursor_format": "%d/%m/%Y %H:%M:%S"}}})
    from connectors.rest_api.credentials import Credentials
    result = extract(config, "incidents", Credentials(conn_id="r1l", password="tok"))
    assert len(result.records) + result.repeated_across_pages == files["rows_in"]
    assert result.repeated_across_pages == files["expected_duplicates"]


@pytest.mark.parametrize("style, keys", [
    ("page_number", {"data", "page", "page_size", "total_pages", "total"}),
    ("offset", {"data", "offset", "limit", "total"}),
    ("cursor", {"data", "next_cursor"}),
    ("next_link", {"data", "links"}),
])
def test_page_shapes(server: MockProviderApi, style: str, keys: set[str]) -> None:
    resp = get(server, "/R1L/api/incidents", _paging=style, page_size=3, limit=3)
    body = resp.json()
    assert resp.status_code == 200 and set(body) == keys and len(body["data"]) == 3
    if style == "next_link":
        assert body["links"]["next"].startswith(f"{server.url}/R1L/api/incidents?")
        assert resp.links["next"]["url"] == body["links"]["next"]


def test_updated_since_filters_and_orders_by_cursor_then_key(server: MockProviderApi) -> None:
    entity = server.state.providers["R1L"].entities["incidents"]
    since = "2026-06-01T00:00:00"
    body = get(server, "/R1L/api/incidents", _paging="offset", limit=1000, updated_since=since).json()
    cursors = [entity.cursor_of(r) for r in body["data"]]
    assert cursors and all(c is not None and c.isoformat() >= since for c in cursors)
    assert cursors == sorted(cursors)  # type: ignore[type-var]
    expected = sum(1 for r in entity.records if (c := entity.cursor_of(r)) is None or c.isoformat() >= since)
    assert body["total"] == expected
    assert get(server, "/R1L/api/incidents", updated_since="yesterday").status_code == 400


def test_auth_kinds(server: MockProviderApi) -> None:
    assert get(server, "/R1L/api/incidents", headers={}).status_code == 401
    assert get(server, "/R1L/api/incidents", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert get(server, "/R1L/api/incidents", headers={"X-API-Key": "key"}).status_code == 200
    token_url = f"{server.url}/oauth/token"
    bad = requests.post(token_url, data={"grant_type": "client_credentials"}, auth=("cid", "wrong"), timeout=5)
    assert bad.status_code == 401
    grant = requests.post(token_url, data={"grant_type": "password"}, auth=("cid", "csecret"), timeout=5)
    assert grant.status_code == 400
    token = requests.post(token_url, data={"grant_type": "client_credentials", "client_id": "cid",
                                           "client_secret": "csecret"}, timeout=5).json()["access_token"]
    assert get(server, "/R1L/api/incidents", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_faults_through_the_admin_endpoint(server: MockProviderApi) -> None:
    admin = f"{server.url}/_admin/faults"
    assert requests.post(admin, json={"rate_limt": 1}, timeout=5).status_code == 400
    assert requests.post(admin, json={"malformed": "garbage"}, timeout=5).status_code == 400
    assert requests.post(admin, json={"rate_limit": 1, "retry_after": 7, "error_burst": 1, "error_status": 503},
                         timeout=5).status_code == 200
    assert requests.get(admin, timeout=5).json()["rate_limit"] == 1
    first = get(server, "/R1L/api/incidents")
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert get(server, "/R1L/api/incidents").status_code == 503
    assert get(server, "/R1L/api/incidents").status_code == 200
    stats = requests.get(f"{server.url}/_admin/stats", timeout=5).json()
    assert stats["statuses"] == {"400": 2, "200": 3, "429": 1, "503": 1}
    assert requests.post(f"{server.url}/_admin/reset", timeout=5).status_code == 200
    stats = server.stats()
    assert (stats["requests_total"], stats["data_pages"], stats["statuses"].get("429")) == (0, 0, None)


def test_insert_fault_adds_a_newest_record_and_reset_removes_it(server: MockProviderApi) -> None:
    entity = server.state.providers["R1L"].entities["incidents"]
    before = len(entity.records)
    server.set_faults(insert_after_page=1)
    get(server, "/R1L/api/incidents", page_size=2)
    get(server, "/R1L/api/incidents", page_size=2)
    assert len(entity.records) == before + 1
    new = entity.records[-1]
    assert new["recordid"] == "NEW00001"
    newest = max(c for r in entity.records[:-1] if (c := entity.cursor_of(r)))
    assert entity.cursor_of(new) == newest + dt.timedelta(seconds=1)
    server.reset()
    assert len(entity.records) == before


@pytest.mark.parametrize("kind, content_type", [("bad_json", "application/json"), ("html", "text/html")])
def test_malformed_pages_from_construction_time_faults(demo_home: tuple[Path, dict[str, Any]], kind: str,
                                                       content_type: str) -> None:
    with start(feeds_dir=demo_home[0] / "demo_feeds", faults=Faults(malformed=kind)) as srv:
        resp = get(srv, "/R1L/api/incidents", headers={})
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith(content_type)
    with pytest.raises(ValueError):
        resp.json()


def test_unknown_provider_or_entity_is_404(server: MockProviderApi) -> None:
    assert get(server, "/XYZ/api/incidents").status_code == 404
    assert get(server, "/R1L/api/complaints").status_code == 404


def test_stop_does_not_wait_for_a_slow_request(server: MockProviderApi) -> None:
    server.set_faults(slow_seconds=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{server.url}/R1L/api/incidents", headers=HEADERS, timeout=(1, 0.2))
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "demo.cli_mock_api", *args]


def test_cli_serves_writes_its_port_and_exits_cleanly_on_sigterm(demo_home: tuple[Path, dict[str, Any]],
                                                                 tmp_path: Path) -> None:
    port_file = tmp_path / "mock-api.port"
    env = {**os.environ, "PSIRF_MOCK_API_TOKEN": "cli-token"}
    proc = subprocess.Popen(_cli("--home", str(demo_home[0]), "--port", "0", "--port-file", str(port_file),
                                 "--provider", "R1L", "--pagination", "R1L=offset"),
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the mock API did not start"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{int(port_file.read_text())}"
        assert requests.get(f"{url}/_health", timeout=5).json()["providers"] == ["R1L"]
        resp = requests.get(f"{url}/R1L/api/incidents", headers={"Authorization": "Bearer cli-token"}, timeout=5)
        assert "offset" in resp.json()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"listening on {url}" in out and "stopped" in out
    assert not port_file.exists()


@pytest.mark.parametrize("args, expected", [
    (["--feeds-dir", "/nonexistent/feeds"], "demo feeds folder not found: /nonexistent/feeds"),
    (["--malformed", "garbage"], "malformed must be one of"),
    (["--pagination", "scroll"], "--pagination 'scroll': style must be one of"),
])
def test_cli_user_mistakes_are_one_line_and_exit_2(args: list[str], expected: str) -> None:
    proc = subprocess.run(_cli("--port", "0", *args), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr
