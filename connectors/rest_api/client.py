"""REST API connector: incremental extracts from a provider's incident system, configured entirely from the registry.

No vendor is hard-coded (no public API documentation exists for Datix Cloud IQ, Ulysses, InPhase or Radar): the
registry's ``[provider.api]`` table says how to authenticate, how pages are linked and which field is the
incremental cursor. The transport (:mod:`connectors.rest_api.http_transport`) owns timeouts, retries and auth; the
pagination styles here are small strategies; an endpoint spec is a path, a primary key and a cursor field.

The connector never writes anything. ``extract`` returns the records and the highest cursor value seen; the caller
stores that watermark only after the batch has committed, so a failed extract or load leaves it unchanged.
Incremental requests ask for ``cursor >= since - lookback`` (inclusive): records sharing the watermark's value are
re-delivered rather than lost, and the keyed merge downstream makes re-delivery harmless.

Registry shape (every key but ``endpoints.<entity>.path`` / ``primary_key`` is optional)::

    [provider.api]
    base_url = "https://datix.example.nhs.uk/api"   # optional when the connection holds the host
    headers = { Accept = "application/json" }      # extra non-secret headers
    verify_tls = true
    [provider.api.auth]
    type = "oauth2_client_credentials"   # none | bearer | api_key | oauth2_client_credentials
    conn_id = "r1l_datix_api"            # Airflow connection or env PSIRF_CONN_R1L_DATIX_API
    header = "X-API-Key"                 # api_key only
    token_url = "oauth/token"            # oauth2 only; relative to base_url or absolute
    scope = "incidents.read"             # oauth2, optional
    client_auth = "basic"                # oauth2: basic (HTTP Basic) | body (client_id/secret in the form)
    [provider.api.pagination]            # defaults shown; per-endpoint [...endpoints.<entity>.pagination] overrides
    style = "cursor"                     # page_number | offset | cursor | next_link
    page_size = 100
    size_param = "page_size"             # default "limit" for offset
    records_path = "data"                # dotted path to the records list; "" = the body is the list
    page_param = "page"                  # page_number
    first_page = 1
    total_pages_path = "total_pages"     # page_number; "" = stop at the first short page
    offset_param = "offset"              # offset
    total_path = "total"                 # offset; "" = stop at the first short page
    cursor_param = "cursor"              # cursor
    next_cursor_path = "next_cursor"     # cursor: must be present on every page; null/"" = last page
    next_link_path = "links.next"        # next_link: dotted path, or "header:Link" for an RFC 8288 Link header
    max_pages = 100000
    [provider.api.timeouts]
    connect = 5.0
    read = 30.0                          # each of these per request attempt ...
    total = 900.0                        # ... and the whole extract of one entity, every page and retry included
    [provider.api.retry]
    max_retries = 5
    backoff_factor = 0.5                 # waits 0, 2x, 4x, ... this many seconds, plus jitter
    backoff_jitter = 0.5
    backoff_max = 60.0
    max_retry_after = 300                # cap on a server's Retry-After, seconds
    [provider.api.endpoints.incidents]   # incidents | safety_actions | learning_responses
    path = "incidents"
    primary_key = "recordid"
    cursor_field = "updateddate"         # omit for a full extract every run
    cursor_format = "%d/%m/%Y %H:%M:%S"  # strptime format, "iso" or "epoch"
    since_param = "updated_since"
    since_format = "iso"                 # how the since value is sent: "iso", "epoch" or a strftime format
    lookback_minutes = 60
    params = { status = "all" }          # extra static query parameters
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin

import pandas as pd
import requests

from connectors.base import RawBatch
from connectors.rest_api.credentials import Credentials, resolve
from connectors.rest_api.http_transport import (
    ApiAuthError,
    ApiDeadlineExceeded,
    ApiError,
    Deadline,
    HttpTransport,
    join_url,
)
from psirf.errors import ConfigError

__all__ = [
    "AUTH_TYPES", "ENTITIES", "PAGINATION_STYLES", "ApiAuthError", "ApiDeadlineExceeded", "ApiError", "ApiExtract",
    "AuthConfig",
    "EndpointConfig", "PaginationConfig", "RestApiConfig", "TransportConfig", "extract", "format_since",
    "parse_cursor", "records_to_raw_batch",
]

log = logging.getLogger(__name__)

ENTITIES = ("incidents", "safety_actions", "learning_responses")
AUTH_TYPES = ("none", "bearer", "api_key", "oauth2_client_credentials")
PAGINATION_STYLES = ("page_number", "offset", "cursor", "next_link")
_MISSING = object()


# --- reading plain dicts with clear errors -----------------------------------------------------------------------


class _Table:
    """Typed access to one registry table; every message says provider, table, key and what was expected."""

    def __init__(self, ods: str, name: str, raw: Any, allowed: set[str]) -> None:
        self.ods, self.name = ods, name
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise self.error(f"must be a table, got {type(raw).__name__}")
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise self.error(f"unknown key(s) {unknown}; expected some of {sorted(allowed)}")
        self.raw: Mapping[str, Any] = raw

    def error(self, problem: str) -> ConfigError:
        return ConfigError(f"provider {self.ods}: [{self.name}] {problem}")

    def text(self, key: str, default: str | None = None, *, required: bool = False,
             choices: tuple[str, ...] | None = None) -> str | None:
        value = self.raw.get(key, default)
        if value is None:
            if required:
                raise self.error(f"missing {key!r}")
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.error(f"{key} must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            raise self.error(f"{key} must be one of {list(choices)}, got {value!r}")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0, integer: bool = False) -> Any:
        value = self.raw.get(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and integer and not (isinstance(value, int) or float(value).is_integer()):
            ok = False
        if not ok or value < minimum:
            kind = "an integer" if integer else "a number"
            raise self.error(f"{key} must be {kind} >= {minimum:g}, got {value!r}")
        return int(value) if integer else float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"{key} must be true or false, got {value!r}")
        return value

    def strings(self, key: str) -> dict[str, str]:
        value = self.raw.get(key, {})
        if not isinstance(value, Mapping) or not all(isinstance(v, str | int | float) and not isinstance(v, bool)
                                                     for v in value.values()):
            raise self.error(f"{key} must be a table of strings, got {value!r}")
        return {str(k): str(v) for k, v in value.items()}


# --- configuration ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthConfig:
    """How to authenticate. Only the connection id is configured here; the secret lives in the connection."""

    type: str = "none"
    conn_id: str | None = None
    header: str = "X-API-Key"
    token_url: str | None = None
    scope: str | None = None
    client_auth: str = "basic"

    @classmethod
    def from_dict(cls, ods: str, raw: Any) -> AuthConfig:
        t = _Table(ods, "provider.api.auth", raw, {"type", "conn_id", "header", "token_url", "scope", "client_auth"})
        kind = t.text("type", "none", choices=AUTH_TYPES)
        assert kind is not None
        conn_id = t.text("conn_id")
        if kind != "none" and not conn_id:
            raise t.error(f"auth type {kind!r} needs conn_id: the Airflow connection (or env PSIRF_CONN_<ID>) "
                          f"that holds the secret")
        token_url = t.text("token_url")
        if kind == "oauth2_client_credentials" and not token_url:
            raise t.error("auth type 'oauth2_client_credentials' needs token_url")
        return cls(type=kind, conn_id=conn_id, header=t.text("header", "X-API-Key") or "X-API-Key",
                   token_url=token_url, scope=t.text("scope"),
                   client_auth=t.text("client_auth", "basic", choices=("basic", "body")) or "basic")


_PAGINATION_KEYS = {"style", "page_size", "size_param", "records_path", "page_param", "first_page",
                    "total_pages_path", "offset_param", "total_path", "cursor_param", "next_cursor_path",
                    "next_link_path", "max_pages"}


@dataclass(frozen=True)
class PaginationConfig:
    """How pages are linked. The defaults describe the project's mock provider API (and many real ones)."""

    style: str = "cursor"
    page_size: int = 100
    size_param: str = "page_size"
    records_path: str = "data"
    page_param: str = "page"
    first_page: int = 1
    total_pages_path: str = "total_pages"
    offset_param: str = "offset"
    total_path: str = "total"
    cursor_param: str = "cursor"
    next_cursor_path: str = "next_cursor"
    next_link_path: str = "links.next"
    max_pages: int = 100_000

    @classmethod
    def from_dict(cls, ods: str, raw: Any, table: str = "provider.api.pagination") -> PaginationConfig:
        t = _Table(ods, table, raw, _PAGINATION_KEYS)
        style = t.text("style", "cursor", choices=PAGINATION_STYLES) or "cursor"
        d = cls()
        paths = {k: t.raw.get(k, getattr(d, k)) for k in ("records_path", "total_pages_path", "total_path")}
        for k, v in paths.items():
            if not isinstance(v, str):
                raise t.error(f"{k} must be a string (\"\" for none), got {v!r}")
        return cls(
            style=style,
            page_size=t.number("page_size", d.page_size, minimum=1, integer=True),
            size_param=t.text("size_param", "limit" if style == "offset" else d.size_param) or d.size_param,
            records_path=paths["records_path"],
            page_param=t.text("page_param", d.page_param) or d.page_param,
            first_page=t.number("first_page", d.first_page, minimum=0, integer=True),
            total_pages_path=paths["total_pages_path"],
            offset_param=t.text("offset_param", d.offset_param) or d.offset_param,
            total_path=paths["total_path"],
            cursor_param=t.text("cursor_param", d.cursor_param) or d.cursor_param,
            next_cursor_path=t.text("next_cursor_path", d.next_cursor_path) or d.next_cursor_path,
            next_link_path=t.text("next_link_path", d.next_link_path) or d.next_link_path,
            max_pages=t.number("max_pages", d.max_pages, minimum=1, integer=True),
        )


@dataclass(frozen=True)
class EndpointConfig:
    """One entity's endpoint: where it is, how records are keyed, and which field drives incremental loads."""

    entity: str
    path: str
    primary_key: str
    pagination: PaginationConfig = field(default_factory=PaginationConfig)
    cursor_field: str | None = None
    cursor_format: str = "iso"
    since_param: str | None = "updated_since"
    since_format: str = "iso"
    lookback: dt.timedelta = dt.timedelta(0)
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, ods: str, entity: str, raw: Any, pagination_defaults: Mapping[str, Any]) -> EndpointConfig:
        name = f"provider.api.endpoints.{entity}"
        t = _Table(ods, name, raw, {"path", "primary_key", "cursor_field", "cursor_format", "since_param",
                                    "since_format", "lookback_minutes", "params", "pagination"})
        pag_raw = t.raw.get("pagination", {})
        if not isinstance(pag_raw, Mapping):
            raise t.error("pagination must be a table")
        pagination = PaginationConfig.from_dict(ods, {**pagination_defaults, **pag_raw}, f"{name}.pagination")
        cursor_format = t.text("cursor_format", "iso") or "iso"
        since_format = t.text("since_format", "iso") or "iso"
        for key, fmt in (("cursor_format", cursor_format), ("since_format", since_format)):
            if fmt not in ("iso", "epoch") and "%" not in fmt:
                raise t.error(f"{key} must be 'iso', 'epoch' or a strftime format such as '%d/%m/%Y %H:%M:%S', "
                              f"got {fmt!r}")
        since_param = t.raw.get("since_param", "updated_since")
        if since_param is not None and (not isinstance(since_param, str)):
            raise t.error(f"since_param must be a string, got {since_param!r}")
        return cls(
            entity=entity, path=t.text("path", required=True) or "", primary_key=t.text("primary_key", required=True)
            or "", pagination=pagination, cursor_field=t.text("cursor_field"), cursor_format=cursor_format,
            since_param=since_param or None, since_format=since_format,
            lookback=dt.timedelta(minutes=t.number("lookback_minutes", 0.0)), params=t.strings("params"))


@dataclass(frozen=True)
class TransportConfig:
    """Timeouts and retry policy. Defaults suit a nightly batch: patient with outages, never hanging."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    total_timeout: float = 900.0  # the whole extract of one entity (keep it below PSIRF_TASK_TIMEOUT_SECONDS)
    max_retries: int = 5
    backoff_factor: float = 0.5
    backoff_jitter: float = 0.5
    backoff_max: float = 60.0
    max_retry_after: int = 300
    verify_tls: bool = True
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RestApiConfig:
    """Everything the connector needs for one provider, built from the registry's ``[provider.api]`` table."""

    provider_ods: str
    endpoints: dict[str, EndpointConfig]
    base_url: str | None = None
    auth: AuthConfig = field(default_factory=AuthConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)

    def endpoint(self, entity: str) -> EndpointConfig:
        try:
            return self.endpoints[entity]
        except KeyError:
            raise ConfigError(f"provider {self.provider_ods}: no API endpoint configured for {entity!r} "
                              f"(configured: {sorted(self.endpoints)})") from None

    @classmethod
    def from_dict(cls, ods: str, raw: Any) -> RestApiConfig:
        t = _Table(ods, "provider.api", raw, {"base_url", "headers", "verify_tls", "auth", "pagination",
                                              "timeouts", "retry", "endpoints"})
        base_url = t.text("base_url")
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise t.error(f"base_url must start with http:// or https://, got {base_url!r}")
        pag_raw = t.raw.get("pagination", {})
        PaginationConfig.from_dict(ods, pag_raw)  # validate the shared defaults once, with their own table name
        timeouts = _Table(ods, "provider.api.timeouts", t.raw.get("timeouts"), {"connect", "read", "total"})
        retry = _Table(ods, "provider.api.retry", t.raw.get("retry"),
                       {"max_retries", "backoff_factor", "backoff_jitter", "backoff_max", "max_retry_after"})
        d = TransportConfig()
        transport = TransportConfig(
            connect_timeout=timeouts.number("connect", d.connect_timeout, minimum=0.001),
            read_timeout=timeouts.number("read", d.read_timeout, minimum=0.001),
            total_timeout=timeouts.number("total", d.total_timeout, minimum=0.001),
            max_retries=retry.number("max_retries", d.max_retries, integer=True),
            backoff_factor=retry.number("backoff_factor", d.backoff_factor),
            backoff_jitter=retry.number("backoff_jitter", d.backoff_jitter),
            backoff_max=retry.number("backoff_max", d.backoff_max),
            max_retry_after=retry.number("max_retry_after", d.max_retry_after, integer=True),
            verify_tls=t.flag("verify_tls", True), headers=t.strings("headers"))
        eps_raw = t.raw.get("endpoints")
        if not isinstance(eps_raw, Mapping) or not eps_raw:
            raise t.error(f"needs at least one [provider.api.endpoints.<entity>] table, entity one of "
                          f"{list(ENTITIES)}")
        unknown = sorted(set(eps_raw) - set(ENTITIES))
        if unknown:
            raise t.error(f"unknown endpoint entity {unknown}; expected some of {list(ENTITIES)}")
        endpoints = {e: EndpointConfig.from_dict(ods, e, eps_raw[e], pag_raw) for e in ENTITIES if e in eps_raw}
        return cls(provider_ods=ods, endpoints=endpoints, base_url=base_url,
                   auth=AuthConfig.from_dict(ods, t.raw.get("auth")), transport=transport)


# --- cursor values ---------------------------------------------------------------------------------------------


def _naive_utc(value: dt.datetime) -> dt.datetime:
    """Aware values become naive UTC so they compare with naive source values (Datix sends local naive times)."""
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def parse_cursor(value: Any, fmt: str) -> dt.datetime | None:
    """A record's cursor value as a datetime, or None if it cannot be read (the transform flags such records)."""
    if value is None or value == "":
        return None
    try:
        if fmt == "epoch":
            return dt.datetime.fromtimestamp(float(value), dt.UTC).replace(tzinfo=None)
        text = str(value).strip()
        if fmt == "iso":
            return _naive_utc(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        return _naive_utc(dt.datetime.strptime(text, fmt))
    except (ValueError, TypeError, OverflowError, OSError):
        return None


def format_since(value: dt.datetime, fmt: str) -> str:
    """The since value as the API expects it; truncation to whole seconds only widens the inclusive window."""
    if fmt == "epoch":
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return str(int(aware.timestamp()))
    if fmt == "iso":
        return value.replace(microsecond=0).isoformat()
    return value.strftime(fmt)


# --- pagination strategies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRequest:
    url: str
    params: dict[str, str] | None
    number: int  # 1-based page ordinal within this extract


def _get_path(body: Any, path: str) -> Any:
    if path in ("", "."):
        return body
    node = body
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


class _Paginator:
    """A pagination style: the first request, and the next one from the page just read (None = last page)."""

    def __init__(self, cfg: PaginationConfig, fail: Any) -> None:
        self.cfg = cfg
        self.fail = fail  # fail(problem) -> ApiError for the current page

    def first(self, url: str, params: dict[str, str]) -> PageRequest:
        return PageRequest(url, {**params, self.cfg.size_param: str(self.cfg.page_size)}, 1)

    def next(self, req: PageRequest, body: Any, resp: requests.Response, n: int) -> PageRequest | None:
        raise NotImplementedError

    def _int_field(self, body: Any, path: str) -> int:
        value = _get_path(body, path)
        if value is _MISSING:
            raise self.fail(f"the page has no paging field {path!r}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(f"paging field {path!r} must be a non-negative integer, got {type(value).__name__}")
        return value


class _PageNumber(_Paginator):
    def first(self, url: str, params: dict[str, str]) -> PageRequest:
        req = super().first(url, params)
        return PageRequest(url, {**(req.params or {}), self.cfg.page_param: str(self.cfg.first_page)}, 1)

    def next(self, req: PageRequest, body: Any, resp: requests.Response, n: int) -> PageRequest | None:
        if self.cfg.total_pages_path:
            total_pages = self._int_field(body, self.cfg.total_pages_path)
            if req.number >= total_pages or n == 0:
                return None
        elif n < self.cfg.page_size:
            return None
        page = self.cfg.first_page + req.number
        return PageRequest(req.url, {**(req.params or {}), self.cfg.page_param: str(page)}, req.number + 1)


class _Offset(_Paginator):
    def first(self, url: str, params: dict[str, str]) -> PageRequest:
        req = super().first(url, params)
        return PageRequest(url, {**(req.params or {}), self.cfg.offset_param: "0"}, 1)

    def next(self, req: PageRequest, body: Any, resp: requests.Response, n: int) -> PageRequest | None:
        offset = int((req.params or {})[self.cfg.offset_param]) + n
        if self.cfg.total_path:
            total = self._int_field(body, self.cfg.total_path)
            if offset >= total or n == 0:
                return None
        elif n < self.cfg.page_size:
            return None
        return PageRequest(req.url, {**(req.params or {}), self.cfg.offset_param: str(offset)}, req.number + 1)


class _Cursor(_Paginator):
    def __init__(self, cfg: PaginationConfig, fail: Any) -> None:
        super().__init__(cfg, fail)
        self.seen: set[str] = set()

    def next(self, req: PageRequest, body: Any, resp: requests.Response, n: int) -> PageRequest | None:
        token = _get_path(body, self.cfg.next_cursor_path)
        if token is _MISSING:
            raise self.fail(f"the page has no paging field {self.cfg.next_cursor_path!r} (null marks the last page)")
        if token is None or token == "":
            return None
        if not isinstance(token, str | int):
            raise self.fail(f"paging field {self.cfg.next_cursor_path!r} must be a string, "
                            f"got {type(token).__name__}")
        token = str(token)
        if token in self.seen:
            raise self.fail("the API returned the same next cursor twice: pagination would never end")
        self.seen.add(token)
        return PageRequest(req.url, {**(req.params or {}), self.cfg.cursor_param: token}, req.number + 1)


class _NextLink(_Paginator):
    def __init__(self, cfg: PaginationConfig, fail: Any) -> None:
        super().__init__(cfg, fail)
        self.seen: set[str] = set()

    def next(self, req: PageRequest, body: Any, resp: requests.Response, n: int) -> PageRequest | None:
        path = self.cfg.next_link_path
        if path.lower().startswith("header:"):
            link: Any = resp.links.get("next", {}).get("url")
        else:
            link = _get_path(body, path)
            if link is _MISSING:
                raise self.fail(f"the page has no paging field {path!r} (null marks the last page)")
        if link is None or link == "":
            return None
        if not isinstance(link, str):
            raise self.fail(f"paging field {path!r} must be a URL string, got {type(link).__name__}")
        url = urljoin(resp.url, link)
        if url in self.seen:
            raise self.fail("the API returned the same next link twice: pagination would never end")
        self.seen.add(url)
        return PageRequest(url, None, req.number + 1)  # the link carries every parameter


_PAGINATORS: dict[str, type[_Paginator]] = {"page_number": _PageNumber, "offset": _Offset, "cursor": _Cursor,
                                            "next_link": _NextLink}


# --- extract ---------------------------------------------------------------------------------------------------


@dataclass
class ApiExtract:
    """One entity's records from one provider. Store ``max_cursor`` as the watermark only after loading them."""

    provider_ods: str
    entity: str
    records: list[dict[str, Any]]
    max_cursor: dt.datetime | None  # never earlier than the ``since`` asked for; None if nothing told us a value
    requests: int  # HTTP requests made, including retries and token requests
    pages: int
    source: str  # e.g. "GET https://host/api/incidents?updated_since=2026-01-01T00:00:00"
    since_requested: dt.datetime | None = None  # since - lookback, as sent
    repeated_across_pages: int = 0  # records delivered twice in this extract (same key); the last copy is kept
    unparseable_cursors: int = 0  # records whose cursor value could not be read (left for the transform to flag)
    extracted_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def extract(config: RestApiConfig, entity: str, credentials: Credentials | None = None,
            since: dt.datetime | None = None) -> ApiExtract:
    """Fetch every page of ``entity`` updated at or after ``since - lookback``; raise rather than return a part.

    ``credentials`` default to ``credentials.resolve(config.auth.conn_id)``. Any failure (auth, exhausted
    retries, timeout, the extract's overall deadline, malformed page) raises ApiError, so no partial extract and no
    watermark reach the caller.
    """
    ep = config.endpoint(entity)
    if credentials is None and config.auth.type != "none":
        assert config.auth.conn_id is not None
        credentials = resolve(config.auth.conn_id)
    base_url = config.base_url or (credentials.base_url if credentials else None)
    if not base_url:
        raise ConfigError(f"provider {config.provider_ods}: no base_url in [provider.api] and the connection "
                          f"{config.auth.conn_id!r} names no host")
    url = join_url(base_url, ep.path)
    params = dict(ep.params)
    since_sent: dt.datetime | None = None
    if since is not None and ep.cursor_field:
        since = _naive_utc(since)
        since_sent = since - ep.lookback
        if ep.since_param:
            params[ep.since_param] = format_since(since_sent, ep.since_format)
    source = f"GET {url}" + (f"?{urlencode(params)}" if params else "")

    records: list[dict[str, Any]] = []
    pages = 0
    page_url = url
    with HttpTransport(config, credentials, base_url, Deadline(config.transport.total_timeout)) as transport:
        def fail(problem: str) -> ApiError:
            return ApiError(config.provider_ods, f"{transport.where(entity, 'GET', page_url)} (page {pages})",
                            problem)

        paginator = _PAGINATORS[ep.pagination.style](ep.pagination, fail)
        current: PageRequest | None = paginator.first(url, params)
        while current is not None:
            page_url = current.url
            body, resp = transport.get_json(current.url, current.params, entity)
            pages += 1
            page = _page_records(body, ep, fail)
            records.extend(page)
            log.info("provider %s %s: page %d read (%d records so far)", config.provider_ods, entity, pages,
                     len(records))
            current = paginator.next(current, body, resp, len(page))
            if current is not None and pages >= ep.pagination.max_pages:
                raise fail(f"more than max_pages={ep.pagination.max_pages} pages: raise it or check the paging "
                           f"configuration")
        requests_made = transport.requests_made

    kept, repeated = _dedupe(records, ep.primary_key)
    max_cursor: dt.datetime | None = since
    unparseable = 0
    if ep.cursor_field:
        for rec in kept:
            value = parse_cursor(_get_path(rec, ep.cursor_field), ep.cursor_format)
            if value is None:
                unparseable += 1
            elif max_cursor is None or value > max_cursor:
                max_cursor = value
    if repeated:
        log.warning("provider %s %s: %d record(s) were delivered twice across pages; kept the last copy",
                    config.provider_ods, entity, repeated)
    return ApiExtract(provider_ods=config.provider_ods, entity=entity, records=kept, max_cursor=max_cursor,
                      requests=requests_made, pages=pages, source=source, since_requested=since_sent,
                      repeated_across_pages=repeated, unparseable_cursors=unparseable)


def _page_records(body: Any, ep: EndpointConfig, fail: Any) -> list[dict[str, Any]]:
    path = ep.pagination.records_path
    if path not in ("", ".") and not isinstance(body, Mapping):
        raise fail(f"expected a JSON object holding the records at {path!r}, got a JSON {type(body).__name__}")
    found = _get_path(body, path)
    if found is _MISSING:
        raise fail(f"the page has no records list at {path!r}")
    if not isinstance(found, list):
        raise fail(f"the records at {path or 'the top level'!r} must be a JSON list, got {type(found).__name__}")
    for i, rec in enumerate(found, start=1):
        if not isinstance(rec, Mapping):
            raise fail(f"record {i} on the page is a JSON {type(rec).__name__}, expected an object")
    return [dict(r) for r in found]


def _dedupe(records: list[dict[str, Any]], primary_key: str) -> tuple[list[dict[str, Any]], int]:
    """Keep the last copy of each key (pagination shifted by an insert can serve a record twice).

    Records without a key value are all kept: validation quarantines them with a reason.
    """
    last: dict[str, int] = {}
    for i, rec in enumerate(records):
        key = _get_path(rec, primary_key)
        if key is not _MISSING and key not in (None, ""):
            last[str(key)] = i
    kept = []
    for i, rec in enumerate(records):
        key = _get_path(rec, primary_key)
        if key is _MISSING or key in (None, "") or last[str(key)] == i:
            kept.append(rec)
    return kept, len(records) - len(kept)


# --- records -> RawBatch ---------------------------------------------------------------------------------------


def _flatten(record: Mapping[str, Any], prefix: str = "", out: dict[str, str] | None = None) -> dict[str, str]:
    out = {} if out is None else out
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if value:
                _flatten(value, f"{name}.", out)
            else:
                out[name] = ""
        elif isinstance(value, list):
            out[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        elif value is None:
            out[name] = ""
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


def flattened_keys(record: dict[str, Any]) -> list[str]:
    """The columns one record becomes (see :func:`records_to_raw_batch`)."""
    return list(_flatten(record))


def records_to_raw_batch(records: list[dict[str, Any]], source: str) -> RawBatch:
    """The records as the same string table a CSV export gives: the transform cannot tell them apart.

    Nested objects become dotted columns (``patient.gender``), lists JSON text, null and absent keys "" (empty
    means missing, as in a CSV), booleans ``true``/``false``. Row numbers are 1-based record ordinals.
    """
    flat = [_flatten(r) for r in records]
    columns: dict[str, None] = {}
    for row in flat:
        for key in row:
            columns.setdefault(key)
    cols = list(columns)
    frame = pd.DataFrame([[row.get(c, "") for c in cols] for row in flat], columns=cols, dtype="string") \
        if flat else pd.DataFrame({c: pd.Series(dtype="string") for c in cols})
    absent = {c: n for c in cols if (n := sum(1 for row in flat if c not in row))}
    return RawBatch(source_file=source, encoding="utf-8", columns=cols, frame=frame,
                    row_numbers=list(range(1, len(flat) + 1)), absent=absent)

