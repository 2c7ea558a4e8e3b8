"""A local provider API: serves the demo records over real HTTP, with the failures real vendor APIs have.

Why it is part of the project: no Datix/Ulysses/InPhase/Radar sandbox is available, and the REST connector's
guarantees (nothing lost or duplicated across pages, retries that honour ``Retry-After``, auth failures that stop
at once, malformed pages that fail the extract) can only be shown against a server that really misbehaves.
``make run`` serves the REST-based demo providers from it; the tests start one per module on port 0.

Routes (``{ods}`` is a provider's ODS code, ``{entity}`` incidents | safety_actions | learning_responses)::

    GET  /{ods}/api/{entity}   records, filtered by ?updated_since=ISO (>=, on the entity's cursor field),
                               ordered by (cursor, primary key); pagination style from the provider's
                               setting or ?_paging=page_number|offset|cursor|next_link
    POST /oauth/token          OAuth2 client-credentials grant (HTTP Basic or form client_id/client_secret)
    GET  /_health              {"status": "ok", "providers": [...]}
    GET  /_admin/faults        current faults;  POST /_admin/faults  JSON object replacing them (see ``Faults``)
    GET  /_admin/stats         requests by path and status, data pages served
    POST /_admin/reset         clear faults, stats, issued tokens and inserted records

Page shapes (the REST connector's pagination defaults)::

    page_number  ?page=1&page_size=50   {"data": [...], "page": 1, "page_size": 50, "total_pages": 4, "total": 180}
    offset       ?offset=0&limit=50     {"data": [...], "offset": 0, "limit": 50, "total": 180}
    cursor       ?cursor=T&page_size=50 {"data": [...], "next_cursor": "T2" | null}       (keyset: inserts safe)
    next_link    ?page_size=50          {"data": [...], "links": {"next": "http://…" | null}} + a Link header

Auth: with ``MockAuth(required=True)`` a data request must carry ``Authorization: Bearer <token>`` (a configured
token or one issued by /oauth/token) or ``<api_key_header>: <key>``; otherwise 401.

Data: ``load_demo_providers(feeds_dir)`` reads, for each provider folder ``feeds_dir/<ODS>/``, the CSV files the
demo generator writes (``IncidentListing_*.csv``/``incidents_*.csv``, ``ActionListing_*.csv``/``actions_*.csv``,
``LearningResponse*.csv``/``learning_responses_*.csv``; encoding detected by BOM, else UTF-8, else Windows-1252)
or ``<entity>.json`` (a list of records, or ``{"primary_key", "cursor_field", "cursor_format", "records"}``).
Primary key and cursor field are the ``source_record_id`` and ``source_updated_at`` columns of the mapping profile
(``--profile``, else any profile whose key column the header has). Empty CSV cells are served as JSON null.
"""

from __future__ import annotations

import base64
import binascii
import csv
import dataclasses
import datetime as dt
import io
import json
import logging
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

log = logging.getLogger(__name__)

ENTITY_FILE_PATTERNS: dict[str, tuple[str, ...]] = {
    "incidents": ("IncidentListing_*.csv", "incidents_*.csv"),
    "safety_actions": ("ActionListing_*.csv", "actions_*.csv"),
    "learning_responses": ("LearningResponse*.csv", "learning_responses_*.csv"),
}
PAGINATION_STYLES = ("page_number", "offset", "cursor", "next_link")
MALFORMED_KINDS = ("bad_json", "html", "missing_paging", "missing_records", "wrong_types")
MAX_PAGE_SIZE = 1000
DEFAULT_PROFILE = "datix_cloud_listing_v1"


# --- data --------------------------------------------------------------------------------------------------------


@dataclass
class MockEntity:
    """One entity's records. Without a cursor field, ``updated_since`` is ignored (a full extract every time)."""

    records: list[dict[str, Any]]
    primary_key: str
    cursor_field: str | None = None
    cursor_format: str = "%d/%m/%Y %H:%M:%S"  # strptime format, or "iso"

    def cursor_of(self, record: dict[str, Any]) -> dt.datetime | None:
        if not self.cursor_field:
            return None
        value = record.get(self.cursor_field)
        if not value:
            return None
        try:
            if self.cursor_format == "iso":
                parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
            return dt.datetime.strptime(str(value).strip(), self.cursor_format)
        except ValueError:
            return None  # served regardless of updated_since: an unreadable value must not hide a record

    def format_cursor(self, value: dt.datetime) -> str:
        return value.isoformat() if self.cursor_format == "iso" else value.strftime(self.cursor_format)


@dataclass
class MockProvider:
    ods: str
    entities: dict[str, MockEntity]
    pagination: str = "cursor"
    page_size: int = 50  # when the request names none


@dataclass
class MockAuth:
    """Accepted credentials. Demo values only: the real secrets of real providers never come near this server."""

    required: bool = False
    bearer_tokens: frozenset[str] = frozenset()
    api_keys: frozenset[str] = frozenset()
    api_key_header: str = "X-API-Key"
    clients: dict[str, str] = field(default_factory=dict)  # OAuth2 client id -> secret
    token_ttl: int = 3600


@dataclass
class Faults:
    """Switchable failures. Counters (``rate_limit``, ``error_burst``) count data requests down to zero.

    ``malformed`` and the insert/revoke triggers count data pages served since the faults were set.
    """

    rate_limit: int = 0  # the next N data requests get 429 with Retry-After
    retry_after: int = 1  # seconds, sent with each 429
    error_burst: int = 0  # the next N data requests (after any 429s) get error_status
    error_status: int = 500
    slow_seconds: float = 0.0  # sleep before answering a data request ...
    slow_count: int | None = None  # ... for the next N data requests (None: every one)
    malformed: str | None = None  # one of MALFORMED_KINDS, for every page after malformed_after good ones
    malformed_after: int = 0
    insert_after_page: int | None = None  # after page k is served, a new record appears (once)
    insert_record: dict[str, Any] | None = None  # default: a copy of the newest record with a new key, cursor + 1 s
    insert_entity: str | None = None  # default: the entity of the page that triggered the insert
    revoke_tokens_after_page: int | None = None  # after page k, every issued OAuth2 token is forgotten (once)
    unauthorized: bool = False  # every data and token request gets 401

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Faults:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; expected some of {sorted(names)}")
        faults = cls(**raw)
        if faults.malformed is not None and faults.malformed not in MALFORMED_KINDS:
            raise ValueError(f"malformed must be one of {list(MALFORMED_KINDS)}, got {faults.malformed!r}")
        return faults


def _decode(path: Path) -> str:
    """The one strict detector every reader uses (:mod:`connectors.encoding`): never a replacement character."""
    from connectors.encoding import decode

    return decode(path.read_bytes(), str(path))[0]


def _read_csv_records(path: Path) -> list[dict[str, Any]]:
    text = _decode(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return [{k: (v if v != "" else None) for k, v in row.items() if k is not None} for row in reader]


def _entity_keys(profiles: Any, entity: str, columns: list[str]) -> tuple[str, str | None, str]:
    """Primary key, cursor field and cursor format from the first profile whose key column the data has.

    ``profiles`` is a profile or a list of them (preferred first); with no match the first column is the key.
    """
    for profile in profiles if isinstance(profiles, list | tuple) else [profiles]:
        mapping = getattr(profile, "entities", {}).get(entity) if profile is not None else None
        if mapping is not None and mapping.columns.get("source_record_id") in columns:
            cursor = mapping.columns.get("source_updated_at")
            return (mapping.columns["source_record_id"], cursor if cursor in columns else None,
                    profile.datetime_format)
    return columns[0] if columns else "id", None, "%d/%m/%Y %H:%M:%S"


def _profiles(preferred: str, profiles_dir: Path) -> list[Any]:
    from transforms.profile import load_profile

    names = [preferred, *sorted(p.stem for p in profiles_dir.glob("*.toml") if p.stem != preferred)]
    return [load_profile(name, profiles_dir) for name in names]


def load_demo_providers(feeds_dir: Path, *, profile_name: str = DEFAULT_PROFILE, profiles_dir: Path | None = None,
                        ods_codes: list[str] | None = None, pagination: dict[str, str] | None = None,
                        default_pagination: str = "cursor") -> dict[str, MockProvider]:
    """One MockProvider per folder ``feeds_dir/<ODS>`` holding entity files (see the module docstring).

    Keys and cursors come from ``profile_name``, else from whichever profile in ``profiles_dir`` fits the header.
    """
    from psirf import settings

    profile = _profiles(profile_name, profiles_dir or settings.profiles_dir())
    wanted = {c.upper() for c in ods_codes} if ods_codes else None
    providers: dict[str, MockProvider] = {}
    if not feeds_dir.is_dir():
        raise FileNotFoundError(f"demo feeds folder not found: {feeds_dir} (run `python -m demo feeds` first)")
    for folder in sorted(p for p in feeds_dir.iterdir() if p.is_dir()):
        ods = folder.name.upper()
        if wanted is not None and ods not in wanted:
            continue
        entities: dict[str, MockEntity] = {}
        for entity, patterns in ENTITY_FILE_PATTERNS.items():
            json_path = folder / f"{entity}.json"
            if json_path.is_file():
                entities[entity] = entity_from_json(json.loads(json_path.read_text(encoding="utf-8")), entity,
                                                    profile)
                continue
            files = sorted({f for pattern in patterns for f in folder.glob(pattern) if f.is_file()})
            if not files:
                continue
            records = [r for f in files for r in _read_csv_records(f)]
            pk, cursor, fmt = _entity_keys(profile, entity, list(records[0]) if records else [])
            entities[entity] = MockEntity(records=records, primary_key=pk, cursor_field=cursor, cursor_format=fmt)
        if entities:
            providers[ods] = MockProvider(ods=ods, entities=entities,
                                          pagination=(pagination or {}).get(ods, default_pagination))
    if wanted is not None and set(providers) != wanted:
        raise FileNotFoundError(f"no demo feed files under {feeds_dir} for {sorted(wanted - set(providers))}")
    return providers


def entity_from_json(raw: Any, entity: str, profile: Any = None) -> MockEntity:
    """``[records]`` (keys from the profile) or ``{"records": [...], "primary_key": ..., "cursor_field": ...}``."""
    if isinstance(raw, list):
        pk, cursor, fmt = _entity_keys(profile, entity, list(raw[0]) if raw else [])
        return MockEntity(records=raw, primary_key=pk, cursor_field=cursor, cursor_format=fmt)
    return MockEntity(records=list(raw["records"]), primary_key=raw["primary_key"],
                      cursor_field=raw.get("cursor_field"), cursor_format=raw.get("cursor_format", "iso"))


# --- server state ------------------------------------------------------------------------------------------------


class _State:
    """Everything the handler threads share, behind one lock."""

    def __init__(self, providers: dict[str, MockProvider], auth: MockAuth, faults: Faults) -> None:
        self.lock = threading.Lock()
        self.providers = providers
        self.auth = auth
        self.faults = faults
        self.pages_since_faults = 0
        self.inserted: list[tuple[str, str, dict[str, Any]]] = []
        self.issued_tokens: dict[str, float] = {}
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.data_pages = 0
        self.stopping = threading.Event()

    def set_faults(self, faults: Faults) -> None:
        with self.lock:
            self.faults = faults
            self.pages_since_faults = 0

    def reset(self) -> None:
        with self.lock:
            self.faults = Faults()
            self.pages_since_faults = 0
            for ods, entity, record in self.inserted:
                self.providers[ods].entities[entity].records.remove(record)
            self.inserted.clear()
            self.issued_tokens.clear()
            self.requests.clear()
            self.statuses.clear()
            self.data_pages = 0

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests_total": sum(self.requests.values()), "requests": dict(self.requests),
                    "statuses": {str(k): v for k, v in self.statuses.items()}, "data_pages": self.data_pages,
                    "inserted": len(self.inserted)}


def _encode_key(key: tuple[str, str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_key(token: str) -> tuple[str, str, int]:
    padded = token + "=" * (-len(token) % 4)
    c, pk, i = json.loads(base64.urlsafe_b64decode(padded.encode()))
    return str(c), str(pk), int(i)


class _Reply(Exception):
    """Raised inside the handler to answer at once with a status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    # --- plumbing ------------------------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            log.info("mock-api %s - %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        with self.server.state.lock:
            self.server.state.statuses[status] += 1
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8",
                   headers)

    def _body(self) -> bytes:
        """The request body, read once: unread bytes would corrupt the next request on a kept-alive connection."""
        if not hasattr(self, "_raw_body"):
            length = int(self.headers.get("Content-Length") or 0)
            self._raw_body = self.rfile.read(length) if length else b""
        return self._raw_body

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        state = self.server.state
        with state.lock:
            state.requests[f"{method} {path}"] += 1
        if hasattr(self, "_raw_body"):
            del self._raw_body  # a new request on a kept-alive connection
        self._body()
        try:
            if path == "/_health" and method == "GET":
                self._json(200, {"status": "ok", "providers": sorted(state.providers)})
            elif path.startswith("/_admin/"):
                self._admin(method, path)
            elif path.endswith("/oauth/token") and method == "POST":
                self._token()
            elif method == "GET" and len(segs := path.strip("/").split("/")) == 3 and segs[1] == "api":
                self._data(segs[0].upper(), segs[2], parse_qs(parts.query))
            else:
                raise _Reply(404, {"error": "not_found", "path": path})
        except _Reply as reply:
            self._json(reply.status, reply.body, reply.headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its read timeout): nothing to answer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # --- admin and auth ------------------------------------------------------------------------------------------

    def _admin(self, method: str, path: str) -> None:
        state = self.server.state
        if path == "/_admin/faults" and method == "GET":
            self._json(200, dataclasses.asdict(state.faults))
        elif path == "/_admin/faults" and method == "POST":
            try:
                raw = json.loads(self._body() or b"{}")
                if not isinstance(raw, dict):
                    raise ValueError("the body must be a JSON object")
                faults = Faults.from_dict(raw)
            except (ValueError, TypeError) as exc:
                raise _Reply(400, {"error": "bad_faults", "detail": str(exc)}) from None
            state.set_faults(faults)
            self._json(200, dataclasses.asdict(faults))
        elif path == "/_admin/stats" and method == "GET":
            self._json(200, state.stats())
        elif path == "/_admin/reset" and method == "POST":
            state.reset()
            self._json(200, {"status": "reset"})
        else:
            raise _Reply(404, {"error": "not_found", "path": path})

    def _token(self) -> None:
        state = self.server.state
        form = {k: v[0] for k, v in parse_qs(self._body().decode("utf-8", "replace")).items()}
        if state.faults.unauthorized:
            raise _Reply(401, {"error": "invalid_client"})
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise _Reply(401, {"error": "invalid_client"}) from None
        if form.get("grant_type") != "client_credentials":
            raise _Reply(400, {"error": "unsupported_grant_type"})
        if not client_id or state.auth.clients.get(client_id) != secret:
            raise _Reply(401, {"error": "invalid_client"}, {"WWW-Authenticate": 'Basic realm="mock"'})
        token = secrets.token_urlsafe(24)
        with state.lock:
            state.issued_tokens[token] = time.monotonic() + state.auth.token_ttl
        self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": state.auth.token_ttl})

    def _authorised(self) -> bool:
        state = self.server.state
        auth = state.auth
        if not auth.required:
            return True
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
            if token in auth.bearer_tokens:
                return True
            with state.lock:
                expiry = state.issued_tokens.get(token)
            if expiry is not None and expiry > time.monotonic():
                return True
        key = self.headers.get(auth.api_key_header)
        return key is not None and key in auth.api_keys

    # --- data ----------------------------------------------------------------------------------------------------

    def _faults_before_data(self) -> None:
        state = self.server.state
        with state.lock:
            f = state.faults
            if f.unauthorized:
                raise _Reply(401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Bearer realm="mock"'})
            slow = f.slow_seconds if (f.slow_count is None or f.slow_count > 0) else 0.0
            if f.slow_count is not None and f.slow_count > 0:
                f.slow_count -= 1
        if slow > 0:
            state.stopping.wait(slow)  # interruptible, so stop() never waits for a "hung" request
        if not self._authorised():
            raise _Reply(401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Bearer realm="mock"'})
        with state.lock:
            if f.rate_limit > 0:
                f.rate_limit -= 1
                raise _Reply(429, {"error": "rate_limited"}, {"Retry-After": str(f.retry_after)})
            if f.error_burst > 0:
                f.error_burst -= 1
                raise _Reply(f.error_status, {"error": "server_error"})

    def _data(self, ods: str, entity_name: str, query: dict[str, list[str]]) -> None:
        state = self.server.state
        provider = state.providers.get(ods)
        if provider is None or entity_name not in provider.entities:
            raise _Reply(404, {"error": "not_found", "detail": f"no {entity_name} for provider {ods}"})
        self._faults_before_data()
        q = {k: v[-1] for k, v in query.items()}
        entity = provider.entities[entity_name]
        style = q.get("_paging", provider.pagination)
        if style not in PAGINATION_STYLES:
            raise _Reply(400, {"error": "bad_request", "detail": f"_paging must be one of {list(PAGINATION_STYLES)}"})
        since = None
        if q.get("updated_since"):
            try:
                since = dt.datetime.fromisoformat(q["updated_since"].replace("Z", "+00:00"))
                since = since.astimezone(dt.UTC).replace(tzinfo=None) if since.tzinfo else since
            except ValueError:
                raise _Reply(400, {"error": "bad_request", "detail": "updated_since must be ISO 8601"}) from None
        with state.lock:
            rows = self._view(entity, since)
            body, headers = self._page(style, provider, rows, q)
            state.pages_since_faults += 1
            state.data_pages += 1
            self._after_page(ods, entity_name, entity)
            malformed = state.faults.malformed if state.pages_since_faults > state.faults.malformed_after else None
        if malformed is None:
            self._json(200, body, headers)
        elif malformed == "bad_json":
            self._send(200, json.dumps(body).encode()[: max(10, len(json.dumps(body)) // 2)],
                       "application/json", headers)
        elif malformed == "html":
            self._send(200, b"<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>",
                       "text/html; charset=utf-8")
        else:
            for key in (("next_cursor", "links", "total", "total_pages") if malformed == "missing_paging" else ()):
                body.pop(key, None)
            if malformed == "missing_records":
                body.pop("data", None)
            if malformed == "wrong_types":
                body["data"] = {"records": body.get("data")}
            self._json(200, body)

    def _view(self, entity: MockEntity, since: dt.datetime | None) -> list[tuple[tuple[str, str, int], dict]]:
        """Records at or after ``since`` in stable (cursor, key, position) order, each with its keyset key."""
        out = []
        for i, rec in enumerate(entity.records):
            cursor = entity.cursor_of(rec)
            if since is not None and cursor is not None and cursor < since:
                continue
            key = ((cursor or dt.datetime.min).isoformat(), str(rec.get(entity.primary_key) or ""), i)
            out.append((key, rec))
        out.sort(key=lambda kr: kr[0])
        return out

    def _int(self, q: dict[str, str], name: str, default: int, minimum: int) -> int:
        try:
            value = int(q.get(name, default))
        except ValueError:
            raise _Reply(400, {"error": "bad_request", "detail": f"{name} must be an integer"}) from None
        if value < minimum:
            raise _Reply(400, {"error": "bad_request", "detail": f"{name} must be >= {minimum}"})
        return value

    def _page(self, style: str, provider: MockProvider, rows: list[tuple[tuple[str, str, int], dict]],
              q: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        total = len(rows)
        if style == "page_number":
            size = min(self._int(q, "page_size", provider.page_size, 1), MAX_PAGE_SIZE)
            page = self._int(q, "page", 1, 1)
            chunk = rows[(page - 1) * size: page * size]
            return {"data": [r for _, r in chunk], "page": page, "page_size": size,
                    "total_pages": (total + size - 1) // size, "total": total}, {}
        if style == "offset":
            size = min(self._int(q, "limit", provider.page_size, 1), MAX_PAGE_SIZE)
            offset = self._int(q, "offset", 0, 0)
            chunk = rows[offset: offset + size]
            return {"data": [r for _, r in chunk], "offset": offset, "limit": size, "total": total}, {}
        size = min(self._int(q, "page_size", provider.page_size, 1), MAX_PAGE_SIZE)
        token_name = "cursor" if style == "cursor" else "page_token"
        if q.get(token_name):
            try:
                after = _decode_key(q[token_name])
            except (ValueError, TypeError, binascii.Error):
                raise _Reply(400, {"error": "bad_request", "detail": f"{token_name} is not valid"}) from None
            rows = [kr for kr in rows if kr[0] > after]
        chunk = rows[:size]
        token = _encode_key(chunk[-1][0]) if len(rows) > size else None
        data = [r for _, r in chunk]
        if style == "cursor":
            return {"data": data, "next_cursor": token}, {}
        link = None
        if token is not None:
            params = {k: v for k, v in q.items() if k != "page_token"} | {"page_token": token}
            host = self.headers.get("Host") or f"{self.server.server_address[0]!s}:{self.server.server_address[1]}"
            link = f"http://{host}{urlsplit(self.path).path}?{urlencode(params)}"
        return {"data": data, "links": {"next": link}}, ({"Link": f'<{link}>; rel="next"'} if link else {})

    def _after_page(self, ods: str, entity_name: str, entity: MockEntity) -> None:
        """Scripted changes between page requests (caller holds the lock)."""
        state = self.server.state
        f = state.faults
        if f.revoke_tokens_after_page is not None and state.pages_since_faults == f.revoke_tokens_after_page:
            state.issued_tokens.clear()
        if f.insert_after_page is None or state.pages_since_faults != f.insert_after_page:
            return
        target_name = f.insert_entity or entity_name
        target = state.providers[ods].entities.get(target_name)
        if target is None:
            return
        record = dict(f.insert_record) if f.insert_record else self._new_record(target)
        target.records.append(record)
        state.inserted.append((ods, target_name, record))

    def _new_record(self, entity: MockEntity) -> dict[str, Any]:
        newest = max(entity.records, key=lambda r: entity.cursor_of(r) or dt.datetime.min)
        record = dict(newest)
        record[entity.primary_key] = f"NEW{len(self.server.state.inserted) + 1:05d}"
        cursor = entity.cursor_of(newest)
        if entity.cursor_field and cursor is not None:
            record[entity.cursor_field] = entity.format_cursor(cursor + dt.timedelta(seconds=1))
        return record


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: _State, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.verbose = verbose


class MockProviderApi:
    """A running server: ``.url``, ``.stop()``, and the same admin operations the HTTP endpoints offer."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="mock-provider-api", daemon=True)
        self._thread.start()

    @property
    def state(self) -> _State:
        return self._server.state

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{self.port}"

    def provider_url(self, ods: str) -> str:
        """The base URL a REST connector config uses for one provider (``…/{ods}/api``)."""
        return f"{self.url}/{ods}/api"

    def set_faults(self, **faults: Any) -> None:
        self.state.set_faults(Faults.from_dict(faults))

    def reset(self) -> None:
        self.state.reset()

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def stop(self) -> None:
        self.state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MockProviderApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(host: str = "127.0.0.1", port: int = 0, providers: dict[str, MockProvider] | None = None, *,
          feeds_dir: Path | None = None, auth: MockAuth | None = None, faults: Faults | None = None,
          verbose: bool = False) -> MockProviderApi:
    """Serve in a background thread; ``port=0`` picks a free port (read it from ``.url``)."""
    if providers is None:
        if feeds_dir is None:
            raise ValueError("give providers or feeds_dir")
        providers = load_demo_providers(feeds_dir)
    state = _State({k.upper(): v for k, v in providers.items()}, auth or MockAuth(), faults or Faults())
    return MockProviderApi(_Server((host, port), state, verbose))
