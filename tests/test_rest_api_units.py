"""Fine-grained REST connector checks without a server: configuration errors, credentials, the retry policy,
malformed-payload detection on scripted responses, de-duplication and the records-to-table conversion."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from unittest import mock

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import RequestHistory

from connectors.rest_api import credentials as creds_mod
from connectors.rest_api.client import (
    ApiAuthError,
    ApiError,
    RestApiConfig,
    _dedupe,
    extract,
    format_since,
    parse_cursor,
    records_to_raw_batch,
)
from connectors.rest_api.credentials import Credentials, parse_connection, resolve
from connectors.rest_api.http_transport import HttpTransport
from psirf.errors import ConfigError

BASE: dict[str, Any] = {"base_url": "https://api.example.test/v1",
        "auth": {"type": "bearer", "conn_id": "rde_api"},
        "endpoints": {"incidents": {"path": "incidents", "primary_key": "recordid", "cursor_field": "updateddate",
                                    "cursor_format": "%d/%m/%Y %H:%M:%S"}}}
CREDS = Credentials(conn_id="rde_api", password="s3cret-token", origin="test")


def cfg(**overrides: Any) -> RestApiConfig:
    return RestApiConfig.from_dict("RDE", {**BASE, **overrides})


# --- configuration -----------------------------------------------------------------------------------------------


def test_defaults_from_a_minimal_dict() -> None:
    config = cfg()
    ep = config.endpoint("incidents")
    assert config.auth.type == "bearer" and config.auth.conn_id == "rde_api"
    assert ep.pagination.style == "cursor" and ep.pagination.records_path == "data"
    assert ep.since_param == "updated_since" and ep.lookback == dt.timedelta(0)
    assert (config.transport.connect_timeout, config.transport.read_timeout) == (5.0, 30.0)


def test_endpoint_pagination_overrides_the_shared_table() -> None:
    config = cfg(pagination={"style": "offset", "page_size": 20},
                 endpoints={"incidents": {**BASE["endpoints"]["incidents"], "pagination": {"page_size": 7}},
                            "safety_actions": {"path": "actions", "primary_key": "act_id"}})
    assert config.endpoint("incidents").pagination.page_size == 7
    assert config.endpoint("incidents").pagination.style == "offset"
    assert config.endpoint("incidents").pagination.size_param == "limit"
    assert config.endpoint("safety_actions").pagination.page_size == 20


@pytest.mark.parametrize("overrides, expected", [
    ({"pagination": {"style": "scroll"}}, r"\[provider.api.pagination\] style must be one of"),
    ({"pagination": {"page_size": 0}}, r"page_size must be an integer >= 1, got 0"),
    ({"pagination": {"pagesize": 10}}, r"unknown key\(s\) \['pagesize'\]"),
    ({"auth": {"type": "bearer"}}, r"auth type 'bearer' needs conn_id"),
    ({"auth": {"type": "oauth2_client_credentials", "conn_id": "x"}}, r"needs token_url"),
    ({"auth": {"type": "basic", "conn_id": "x"}}, r"type must be one of \['none', 'bearer'"),
    ({"timeouts": {"read": "30"}}, r"\[provider.api.timeouts\] read must be a number"),
    ({"retry": {"max_retries": True}}, r"max_retries must be an integer"),
    ({"base_url": "api.example.test"}, r"base_url must start with http:// or https://"),
    ({"endpoints": {}}, r"needs at least one \[provider.api.endpoints.<entity>\]"),
    ({"endpoints": {"incident": {"path": "x", "primary_key": "id"}}}, r"unknown endpoint entity \['incident'\]"),
    ({"endpoints": {"incidents": {"path": "x"}}}, r"\[provider.api.endpoints.incidents\] missing 'primary_key'"),
    ({"endpoints": {"incidents": {"path": "x", "primary_key": "id", "cursor_format": "dd/mm/yyyy"}}},
     r"cursor_format must be 'iso', 'epoch' or a strftime format"),
])
def test_config_mistakes_name_provider_table_and_expectation(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=r"^provider RDE: .*" + expected):
        cfg(**overrides)


def test_unknown_entity_requested() -> None:
    with pytest.raises(ConfigError, match=r"provider RDE: no API endpoint configured for 'learning_responses'"):
        cfg().endpoint("learning_responses")


# --- credentials -------------------------------------------------------------------------------------------------


def test_credentials_from_a_url_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSIRF_CONN_RDE_API", "https://client%40trust:p%40ss@api.example.test:8443/v1?scope=read")
    c = resolve("rde-api")
    assert (c.login, c.password, c.base_url) == ("client@trust", "p@ss", "https://api.example.test:8443/v1")
    assert c.extra == {"scope": "read"} and "PSIRF_CONN_RDE_API" in c.origin
    assert "p@ss" not in repr(c)


def test_credentials_from_a_json_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSIRF_CONN_RDE_API", json.dumps(
        {"login": "id", "password": "pw", "host": "api.example.test", "port": 443, "schema": "v2",
         "extra": {"token": "t"}}))
    c = resolve("rde_api")
    assert (c.login, c.password, c.base_url, c.extra) == ("id", "pw", "https://api.example.test:443/v2",
                                                          {"token": "t"})


def test_missing_connection_names_it_and_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PSIRF_CONN_NOPE", raising=False)
    with mock.patch.object(creds_mod, "_from_airflow", return_value=None), \
            pytest.raises(ConfigError, match=r"connection 'nope' not found: set the environment variable "
                                             r"PSIRF_CONN_NOPE"):
        resolve("nope")


def test_bad_connection_value_never_echoes_the_secret() -> None:
    with pytest.raises(ConfigError) as err:
        parse_connection("x", "{not json: hunter2", origin="env")
    assert "hunter2" not in str(err.value)
    with pytest.raises(ConfigError, match="neither a URL"):
        parse_connection("x", "hunter2", origin="env")


def test_a_connection_without_the_needed_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"provider RDE: test has no bearer token"):
        HttpTransport(cfg(), Credentials(conn_id="rde_api", origin="test"), "https://api.example.test")


# --- the retry policy --------------------------------------------------------------------------------------------


def test_retry_policy_on_the_session() -> None:
    config = cfg(retry={"max_retries": 4, "backoff_factor": 0.5, "backoff_jitter": 0.25, "backoff_max": 8,
                        "max_retry_after": 120})
    transport = HttpTransport(config, CREDS, "https://api.example.test")
    adapter = transport.session.get_adapter("https://api.example.test")
    assert isinstance(adapter, HTTPAdapter)
    retry = adapter.max_retries
    assert retry.total == retry.connect == retry.read == retry.status == 4
    assert set(retry.status_forcelist) == {429, 500, 502, 503, 504}
    assert {"GET", "POST"} <= set(retry.allowed_methods or ())
    assert retry.respect_retry_after_header and not retry.raise_on_status
    assert (retry.backoff_factor, retry.backoff_jitter, retry.backoff_max, retry.retry_after_max) == (
        0.5, 0.25, 8, 120)
    assert not retry.is_retry("GET", 401) and not retry.is_retry("GET", 403)
    assert retry.is_retry("POST", 503)
    # exponential backoff: 0 before the first retry, then 2x, 4x the factor (plus at most the jitter), capped
    history = tuple(RequestHistory("GET", "/", None, 503, None) for _ in range(3))
    waits = retry.new(history=history).get_backoff_time()
    assert 2.0 <= waits <= 2.25
    big = retry.new(history=history * 4).get_backoff_time()
    assert big == 8


def _response(status: int = 200, body: bytes | str = b"", content_type: str = "application/json",
              url: str = "https://api.example.test/v1/incidents", headers: dict[str, str] | None = None
              ) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body.encode() if isinstance(body, str) else body
    resp.headers.update({"Content-Type": content_type, **(headers or {})})
    resp.url = url
    resp.reason = "OK" if status == 200 else "Error"
    return resp


def _run(*responses: requests.Response, config: RestApiConfig | None = None) -> tuple[Any, mock.MagicMock]:
    with mock.patch("requests.Session.request", side_effect=list(responses)) as sent:
        result = extract(config or cfg(), "incidents", CREDS, since=dt.datetime(2026, 1, 1))
    return result, sent


def test_every_request_has_connect_and_read_timeouts_and_the_since_filter() -> None:
    config = cfg(timeouts={"connect": 2.5, "read": 11})
    page1 = _response(body=json.dumps({"data": [{"recordid": "1"}], "next_cursor": "abc"}))
    page2 = _response(body=json.dumps({"data": [{"recordid": "2"}], "next_cursor": None}))
    result, sent = _run(page1, page2, config=config)
    # each attempt's timeouts: the configured ones, cut to what is left of the extract's deadline (900 s here)
    attempts = [c.kwargs["timeout"].clone() for c in sent.call_args_list]
    assert [(t.connect_timeout, t.read_timeout) for t in attempts] == [(2.5, 11.0), (2.5, 11.0)]
    assert all(890 < t.total <= 900 for t in attempts)
    assert sent.call_args_list[0].kwargs["params"]["updated_since"] == "2026-01-01T00:00:00"
    assert sent.call_args_list[1].kwargs["params"]["cursor"] == "abc"
    assert sent.call_args_list[0].kwargs["headers"] == {"Authorization": "Bearer s3cret-token"}
    assert [r["recordid"] for r in result.records] == ["1", "2"] and result.requests == 2


@pytest.mark.parametrize("response, expected", [
    (_response(body="<html><body>Login</body></html>", content_type="text/html"), "HTML page with status 200"),
    (_response(body="  <!DOCTYPE html>", content_type="application/json"), "HTML page with status 200"),
    (_response(body='{"data": [', content_type="application/json"), "not valid JSON at line 1"),
    (_response(body=""), "empty body"),
    (_response(body="[]"), "expected a JSON object holding the records at 'data', got a JSON list"),
    (_response(body='{"data": {"recordid": "1"}, "next_cursor": null}'), "must be a JSON list, got dict"),
    (_response(body='{"data": ["1", "2"], "next_cursor": null}'), "record 1 on the page is a JSON str"),
    (_response(body='{"items": [], "next_cursor": null}'), "no records list at 'data'"),
    (_response(body='{"data": []}'), "no paging field 'next_cursor'"),
    (_response(body='{"data": [], "next_cursor": 17.5}'), "must be a string, got float"),
    (_response(status=204), "expected status 200"),
    (_response(status=404, body="{}"), "failed with status 404"),
])
def test_malformed_payloads_fail_never_read_as_the_end(response: requests.Response, expected: str) -> None:
    with pytest.raises(ApiError) as err:
        _run(response)
    assert expected in str(err.value)
    assert str(err.value).startswith("provider RDE, incidents endpoint GET https://api.example.test/v1/incidents")


def test_total_pages_must_be_an_integer() -> None:
    config = cfg(pagination={"style": "page_number", "page_size": 1})
    with pytest.raises(ApiError, match="paging field 'total_pages' must be a non-negative integer, got str"):
        _run(_response(body='{"data": [{"recordid": "1"}], "total_pages": "3"}'), config=config)


def test_a_repeated_cursor_would_loop_forever_so_it_fails() -> None:
    page = json.dumps({"data": [{"recordid": "1"}], "next_cursor": "same"})
    with pytest.raises(ApiError, match="same next cursor twice"):
        _run(_response(body=page), _response(body=page), _response(body=page))


def test_403_is_an_auth_error_naming_the_connection() -> None:
    with pytest.raises(ApiAuthError, match=r"refused with 403 Error: check the credentials in connection 'rde_api'"):
        _run(_response(status=403, body="{}"))


def test_short_page_ends_when_no_total_is_configured() -> None:
    config = cfg(pagination={"style": "offset", "page_size": 2, "total_path": "", "records_path": ""})
    result, sent = _run(_response(body='[{"recordid": "1"}, {"recordid": "2"}]'),
                        _response(body='[{"recordid": "3"}]'), config=config)
    assert len(result.records) == 3 and sent.call_args_list[1].kwargs["params"]["offset"] == "2"


# --- records, cursors, de-duplication ----------------------------------------------------------------------------


def test_dedupe_keeps_the_last_copy_and_every_keyless_record() -> None:
    records: list[dict[str, Any]] = [{"id": "a", "v": 1}, {"id": "b"}, {"id": "a", "v": 2}, {"id": None},
                                     {"id": ""}, {"x": 1}]
    kept, dropped = _dedupe(records, "id")
    assert dropped == 1
    assert kept == [{"id": "b"}, {"id": "a", "v": 2}, {"id": None}, {"id": ""}, {"x": 1}]


def test_records_to_raw_batch_flattens_and_stringifies() -> None:
    batch = records_to_raw_batch([
        {"id": 1, "patient": {"gender": "F", "age": 42}, "tags": ["falls", "night"], "doc": True, "note": None},
        {"id": 2, "extra": "x", "patient": {}},
    ], "GET https://api.example.test/v1/incidents")
    assert batch.columns == ["id", "patient.gender", "patient.age", "tags", "doc", "note", "extra", "patient"]
    assert batch.frame.iloc[0].tolist() == ["1", "F", "42", '["falls","night"]', "true", "", "", ""]
    assert batch.frame.iloc[1].tolist() == ["2", "", "", "", "", "", "x", ""]
    assert batch.row_numbers == [1, 2] and all(str(t) == "string" for t in batch.frame.dtypes)
    empty = records_to_raw_batch([], "src")
    assert empty.columns == [] and len(empty.frame) == 0


def test_cursor_parsing_and_since_formatting() -> None:
    assert parse_cursor("03/04/2024 10:11:12", "%d/%m/%Y %H:%M:%S") == dt.datetime(2024, 4, 3, 10, 11, 12)
    assert parse_cursor("2024-04-03T10:11:12Z", "iso") == dt.datetime(2024, 4, 3, 10, 11, 12)
    assert parse_cursor("2024-04-03T11:11:12+01:00", "iso") == dt.datetime(2024, 4, 3, 10, 11, 12)
    assert parse_cursor(0, "epoch") == dt.datetime(1970, 1, 1)
    assert parse_cursor("31/02/2024 00:00:00", "%d/%m/%Y %H:%M:%S") is None
    assert parse_cursor(None, "iso") is None
    since = dt.datetime(2024, 4, 3, 10, 11, 12, 999)
    assert format_since(since, "iso") == "2024-04-03T10:11:12"
    assert format_since(since, "%d/%m/%Y %H:%M") == "03/04/2024 10:11"
    assert format_since(dt.datetime(1970, 1, 2), "epoch") == "86400"


def test_unreadable_cursor_values_are_counted_not_fatal_and_watermark_never_regresses() -> None:
    body = json.dumps({"data": [{"recordid": "1", "updateddate": "yesterday"},
                                {"recordid": "2", "updateddate": "01/12/2025 10:00:00"}], "next_cursor": None})
    result, _ = _run(_response(body=body))
    assert result.unparseable_cursors == 1
    assert result.max_cursor == dt.datetime(2026, 1, 1)  # the since asked for: older records cannot lower it
