"""The REST connector against the project's mock provider API over real local HTTP.

Each test starts its own server on a free port with a dozen small records, scripts a fault, and checks what a
user relies on: every record exactly once, retries that honour Retry-After, failures that stop the extract (so
the caller never stores a watermark) and say which provider, endpoint and connection to look at.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.rest_api.client import ApiAuthError, ApiError, ApiExtract, RestApiConfig, extract, records_to_raw_batch
from connectors.rest_api.credentials import Credentials
from demo.mock_provider_api import MockAuth, MockEntity, MockProvider, MockProviderApi, start

FMT = "%d/%m/%Y %H:%M:%S"
T0 = dt.datetime(2026, 3, 1, 9, 0, 0)
TOKEN, API_KEY, CLIENT, SECRET = "test-token", "test-key", "test-client", "test-secret"
STYLES = ("page_number", "offset", "cursor", "next_link")


def _records() -> list[dict[str, Any]]:
    """12 incidents an hour apart; INC007 shares INC006's update time (the page-boundary case)."""
    out = []
    for i in range(1, 13):
        updated = T0 + dt.timedelta(hours=min(i, 6) if i == 7 else i)
        out.append({"recordid": f"INC{i:03d}", "inc_dincident": "01/03/2026", "updateddate": updated.strftime(FMT),
                    "inc_severity": "No harm", "location": {"type": "Inpatient ward", "exact": "Ward 7B"},
                    "inc_lessons": None})
    return out


@pytest.fixture
def server() -> Iterator[MockProviderApi]:
    entity = MockEntity(records=_records(), primary_key="recordid", cursor_field="updateddate", cursor_format=FMT)
    actions = MockEntity(records=[{"act_id": str(n), "act_cas_id": "INC001"} for n in range(1, 4)],
                         primary_key="act_id")
    auth = MockAuth(required=True, bearer_tokens=frozenset({TOKEN}), api_keys=frozenset({API_KEY}),
                    clients={CLIENT: SECRET})
    srv = start(providers={"R1L": MockProvider("R1L", {"incidents": entity, "safety_actions": actions})}, auth=auth)
    try:
        yield srv
    finally:
        srv.stop()


def make_config(srv: MockProviderApi, style: str = "cursor", *, auth: dict[str, Any] | None = None,
                page_size: int = 5, lookback_minutes: float = 0, read: float = 2.0, max_retries: int = 3,
                **pagination: Any) -> RestApiConfig:
    return RestApiConfig.from_dict("R1L", {
        "base_url": srv.provider_url("R1L"),
        "auth": auth or {"type": "bearer", "conn_id": "r1l_api"},
        "pagination": {"style": style, "page_size": page_size, **pagination},
        "timeouts": {"connect": 1.0, "read": read},
        "retry": {"max_retries": max_retries, "backoff_factor": 0.01, "backoff_jitter": 0.01, "backoff_max": 0.05,
                  "max_retry_after": 5},
        "endpoints": {
            "incidents": {"path": "incidents", "primary_key": "recordid", "cursor_field": "updateddate",
                          "cursor_format": FMT, "lookback_minutes": lookback_minutes, "params": {"_paging": style}},
            "safety_actions": {"path": "safety_actions", "primary_key": "act_id", "params": {"_paging": style}},
        },
    })


def creds(secret: str = TOKEN, login: str | None = None) -> Credentials:
    return Credentials(conn_id="r1l_api", login=login, password=secret, origin="test")


def ids(result: ApiExtract) -> list[str]:
    return [r["recordid"] for r in result.records]


ALL_IDS = [f"INC{i:03d}" for i in range(1, 13)]


@pytest.mark.parametrize("style", STYLES)
def test_each_pagination_style_returns_every_record_once(server: MockProviderApi, style: str) -> None:
    result = extract(make_config(server, style), "incidents", creds())
    assert sorted(ids(result)) == ALL_IDS
    assert result.pages == 3 and result.requests == 3 and result.repeated_across_pages == 0
    assert result.max_cursor == T0 + dt.timedelta(hours=12)
    actions = extract(make_config(server, style), "safety_actions", creds())
    assert [r["act_id"] for r in actions.records] == ["1", "2", "3"] and actions.max_cursor is None


def test_next_link_from_the_link_header(server: MockProviderApi) -> None:
    result = extract(make_config(server, "next_link", next_link_path="header:Link"), "incidents", creds())
    assert sorted(ids(result)) == ALL_IDS and result.pages == 3


def test_records_become_a_raw_batch_like_a_csv(server: MockProviderApi) -> None:
    result = extract(make_config(server), "incidents", creds())
    batch = records_to_raw_batch(result.records, result.source)
    assert batch.columns[:3] == ["recordid", "inc_dincident", "updateddate"]
    assert "location.exact" in batch.columns
    assert batch.frame["inc_lessons"].tolist() == [""] * 12  # JSON null reads as empty, as in a CSV
    assert batch.source_file.startswith(f"GET {server.provider_url('R1L')}/incidents")


def test_429_with_retry_after_then_success_loads_each_record_once(server: MockProviderApi) -> None:
    server.set_faults(rate_limit=1, retry_after=1)
    started = time.monotonic()
    result = extract(make_config(server), "incidents", creds())
    assert time.monotonic() - started >= 1.0  # waited as the server asked, not the 0.01 s backoff
    assert sorted(ids(result)) == ALL_IDS and Counter(ids(result)).most_common(1)[0][1] == 1
    assert result.requests == 4  # 3 pages + 1 retried
    assert server.stats()["statuses"] == {"429": 1, "200": 3}


def test_a_burst_of_5xx_shorter_than_the_retry_limit_is_survived(server: MockProviderApi) -> None:
    server.set_faults(error_burst=2, error_status=503)
    result = extract(make_config(server, max_retries=3), "incidents", creds())
    assert sorted(ids(result)) == ALL_IDS and result.requests == 5


def test_exhausted_5xx_fails_and_the_watermark_stays(server: MockProviderApi) -> None:
    server.set_faults(error_burst=100, error_status=502)
    watermark = T0  # what the caller stored after the previous committed batch
    with pytest.raises(ApiError) as err:
        watermark = extract(make_config(server, max_retries=2), "incidents", creds(), since=watermark).max_cursor \
            or watermark
    assert watermark == T0
    message = str(err.value)
    assert "provider R1L" in message and "incidents endpoint GET" in message and "/R1L/api/incidents" in message
    assert "gave up after 2 retries; last status 502" in message and err.value.status == 502
    assert err.value.retryable
    assert server.stats()["requests_total"] == 3


def test_401_fails_fast_without_retries_and_names_the_connection(server: MockProviderApi) -> None:
    with pytest.raises(ApiAuthError) as err:
        extract(make_config(server), "incidents", creds("wrong-token"))
    message = str(err.value)
    assert "provider R1L" in message and "401" in message and "'r1l_api'" in message
    assert "wrong-token" not in message
    assert not err.value.retryable
    assert server.stats()["requests_total"] == 1


def test_401_fault_on_a_valid_token_also_fails_at_once(server: MockProviderApi) -> None:
    server.set_faults(unauthorized=True)
    with pytest.raises(ApiAuthError):
        extract(make_config(server), "incidents", creds())
    assert server.stats()["requests_total"] == 1


@pytest.mark.parametrize("kind, expected", [
    ("bad_json", "not valid JSON"),
    ("html", "HTML page with status 200"),
    ("missing_paging", "no paging field 'next_cursor'"),
    ("missing_records", "no records list at 'data'"),
    ("wrong_types", "must be a JSON list"),
])
def test_a_malformed_page_fails_the_extract(server: MockProviderApi, kind: str, expected: str) -> None:
    server.set_faults(malformed=kind, malformed_after=1)  # page 1 is fine, page 2 is broken
    with pytest.raises(ApiError) as err:
        extract(make_config(server), "incidents", creds())
    assert expected in str(err.value) and "provider R1L" in str(err.value)
    assert "INC0" not in str(err.value)  # the body's content is never quoted


@pytest.mark.parametrize("style", ["page_number", "offset"])
def test_missing_total_fails_numbered_pagination(server: MockProviderApi, style: str) -> None:
    server.set_faults(malformed="missing_paging")
    with pytest.raises(ApiError, match="no paging field"):
        extract(make_config(server, style), "incidents", creds())


@pytest.mark.parametrize("style", STYLES)
def test_a_new_record_inserted_between_pages_is_loaded_once(server: MockProviderApi, style: str) -> None:
    new = {"recordid": "INC099", "updateddate": (T0 + dt.timedelta(hours=13)).strftime(FMT)}
    server.set_faults(insert_after_page=1, insert_record=new)
    result = extract(make_config(server, style), "incidents", creds())
    assert sorted(ids(result)) == [*ALL_IDS, "INC099"]
    assert result.repeated_across_pages == 0


def test_a_backdated_insert_shifting_offset_pages_loses_and_duplicates_nothing(server: MockProviderApi) -> None:
    """A record that sorts before the current offset pushes a served record onto the next page."""
    late = {"recordid": "INC050", "updateddate": (T0 + dt.timedelta(hours=9, minutes=30)).strftime(FMT)}
    server.set_faults(insert_after_page=2, insert_record=late)  # sorts inside page 2, already served
    config = make_config(server, "offset", page_size=5, lookback_minutes=180)
    first = extract(config, "incidents", creds())
    assert sorted(ids(first)) == ALL_IDS  # INC010 was pushed onto page 3 and arrived twice: one copy kept
    assert first.repeated_across_pages == 1 and len(first.records) == 12
    second = extract(config, "incidents", creds(), since=first.max_cursor)  # look-back reaches the late record
    assert "INC050" in ids(second)
    union = {r["recordid"]: r for r in [*first.records, *second.records]}
    assert sorted(union) == sorted([*ALL_IDS, "INC050"])


def test_keyset_cursor_pagination_is_not_shifted_by_a_backdated_insert(server: MockProviderApi) -> None:
    late = {"recordid": "INC000", "updateddate": T0.strftime(FMT)}
    server.set_faults(insert_after_page=1, insert_record=late)
    result = extract(make_config(server, "cursor"), "incidents", creds())
    assert sorted(ids(result)) == ALL_IDS and result.repeated_across_pages == 0


def test_records_sharing_the_watermark_value_are_redelivered_not_lost(server: MockProviderApi) -> None:
    config = make_config(server, "cursor")
    watermark = T0 + dt.timedelta(hours=6)  # INC006 and INC007 both carry this value
    result = extract(config, "incidents", creds(), since=watermark)
    assert ids(result)[:2] == ["INC006", "INC007"]  # inclusive: >= since
    assert sorted(ids(result)) == ALL_IDS[5:]
    # a record created later with the same update time as the stored watermark is still picked up
    extra = {"recordid": "INC013", "updateddate": result.max_cursor.strftime(FMT)} if result.max_cursor else {}
    server.state.providers["R1L"].entities["incidents"].records.append(extra)
    again = extract(config, "incidents", creds(), since=result.max_cursor)
    assert "INC013" in ids(again) and "INC012" in ids(again)
    assert again.max_cursor == result.max_cursor  # the watermark never moves backwards


def test_look_back_window_is_subtracted_from_since(server: MockProviderApi) -> None:
    result = extract(make_config(server, lookback_minutes=120), "incidents", creds(),
                     since=T0 + dt.timedelta(hours=10))
    assert sorted(ids(result)) == ALL_IDS[7:]  # from 08:00 after T0
    assert result.since_requested == T0 + dt.timedelta(hours=8)
    assert "updated_since=2026-03-01T17%3A00%3A00" in result.source
    assert result.max_cursor == T0 + dt.timedelta(hours=12)


def test_a_hung_server_hits_the_read_timeout(server: MockProviderApi) -> None:
    server.set_faults(slow_seconds=5)
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"no response within the read timeout of 0\.2 s") as err:
        extract(make_config(server, read=0.2, max_retries=0), "incidents", creds())
    assert time.monotonic() - started < 2
    assert "provider R1L" in str(err.value)


def test_one_slow_response_is_retried(server: MockProviderApi) -> None:
    server.set_faults(slow_seconds=1, slow_count=1)
    result = extract(make_config(server, read=0.2, max_retries=1), "incidents", creds())
    assert sorted(ids(result)) == ALL_IDS and result.requests == 4


def test_connection_refused_is_a_clear_error(server: MockProviderApi) -> None:
    config = make_config(server, max_retries=1)
    server.stop()
    with pytest.raises(ApiError, match=r"could not connect to 127\.0\.0\.1"):
        extract(config, "incidents", creds())


def test_api_key_auth(server: MockProviderApi) -> None:
    config = make_config(server, auth={"type": "api_key", "conn_id": "r1l_api", "header": "X-API-Key"})
    assert sorted(ids(extract(config, "incidents", creds(API_KEY)))) == ALL_IDS
    with pytest.raises(ApiAuthError):
        extract(config, "incidents", creds("not-the-key"))


OAUTH = {"type": "oauth2_client_credentials", "conn_id": "r1l_api", "token_url": "/oauth/token", "scope": "read"}


@pytest.mark.parametrize("client_auth", ["basic", "body"])
def test_oauth2_token_is_fetched_once_per_extract(server: MockProviderApi, client_auth: str) -> None:
    config = make_config(server, auth={**OAUTH, "client_auth": client_auth})
    result = extract(config, "incidents", creds(SECRET, login=CLIENT))
    assert sorted(ids(result)) == ALL_IDS
    assert server.stats()["requests"]["POST /oauth/token"] == 1 and result.requests == 4


def test_oauth2_token_is_refreshed_once_when_refused(server: MockProviderApi) -> None:
    server.set_faults(revoke_tokens_after_page=1)
    result = extract(make_config(server, auth=OAUTH), "incidents", creds(SECRET, login=CLIENT))
    assert sorted(ids(result)) == ALL_IDS
    assert server.stats()["requests"]["POST /oauth/token"] == 2


def test_oauth2_wrong_secret_fails_fast(server: MockProviderApi) -> None:
    with pytest.raises(ApiAuthError, match=r"refused the client credentials with 401.*'r1l_api'"):
        extract(make_config(server, auth=OAUTH), "incidents", creds("wrong", login=CLIENT))
    assert server.stats()["requests_total"] == 1


def test_credentials_and_base_url_from_the_environment(server: MockProviderApi,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    raw = make_config(server)
    config = RestApiConfig(provider_ods="R1L", endpoints=raw.endpoints, auth=raw.auth, transport=raw.transport)
    host = server.url.removeprefix("http://")
    monkeypatch.setenv("PSIRF_CONN_R1L_API", f"http://:{TOKEN}@{host}/R1L/api")
    result = extract(config, "incidents")  # credentials resolved from the env var, base URL from the connection
    assert sorted(ids(result)) == ALL_IDS
