"""HTTP transport for provider APIs: one place that owns timeouts, retries, auth and "is this page really JSON".

Why a shared transport: every vendor API fails the same ways (rate limits, 5xx bursts, hung sockets, HTML error
pages with status 200, expired tokens). Handling them once, with urllib3's ``Retry`` on a ``requests`` session,
keeps per-endpoint specs tiny and the behaviour identical for every provider:

- every request carries ``timeout=(connect, read)``, and the whole extract has a deadline (:class:`Deadline`,
  ``[provider.api.timeouts] total``): no attempt, retry wait or next page starts past it, and each attempt's
  timeouts are cut to the time left, so a provider API that hangs fails the extract within its deadline
  (:class:`ApiDeadlineExceeded`, naming provider, endpoint and how long it waited) instead of holding the task for
  every retry's read timeout;
- 429/500/502/503/504 and connection/read errors are retried up to ``max_retries`` with exponential backoff and
  jitter (capped at ``backoff_max``); 429 and 503 wait for ``Retry-After`` instead (capped at ``max_retry_after``);
- 401/403 are never retried: ``ApiAuthError`` names the provider and the connection to fix (an OAuth2 token is
  refreshed once first, since tokens expire);
- a body that is not the JSON we asked for is an ``ApiError``, never "no more data".

Error messages name provider, entity and URL (without the query) and never quote the response body: a
provider's page may contain patient identifiers.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout

from connectors.rest_api.credentials import Credentials, env_var_name
from psirf.errors import ConfigError, PsirfError

if TYPE_CHECKING:
    from connectors.rest_api.client import RestApiConfig

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
USER_AGENT = "psirf-platform/0.1 (+patient-safety data platform)"


class ApiError(PsirfError):
    """The provider's API could not deliver a complete, well-formed extract; nothing from it may be loaded.

    ``retryable`` tells the orchestrator whether trying again later can help (an outage can pass, bad
    credentials cannot). ``status`` is the last HTTP status seen, if any.
    """

    retryable = True

    def __init__(self, provider: str, endpoint: str, problem: str, *, status: int | None = None) -> None:
        super().__init__(f"provider {provider}, {endpoint}: {problem}")
        self.provider = provider
        self.endpoint = endpoint
        self.problem = problem
        self.status = status


class ApiAuthError(ApiError):
    """401/403: the credentials are wrong or lack permission. Retrying cannot fix that, so it fails at once."""

    retryable = False


class ApiDeadlineExceeded(ApiError):
    """The extract did not finish within its overall deadline; nothing from it is landed or loaded."""


class Deadline:
    """A time budget for one extract, on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.seconds - self.elapsed()


class _DeadlineReached(Exception):
    """Raised inside urllib3 (a timeout clone or a retry) when the extract's deadline has passed; the transport turns
    it into :class:`ApiDeadlineExceeded`. Deliberately not an ``OSError``/urllib3 error, so nothing retries it."""


class _DeadlineTimeout(Timeout):
    """urllib3 clones a request's ``Timeout`` for every attempt, retries included: each clone gets the configured
    connect/read timeouts cut to the time left before the deadline, and none is made once it has passed."""

    def __init__(self, connect: float, read: float, deadline: Deadline) -> None:
        super().__init__(connect=connect, read=read)
        self._deadline = deadline

    def clone(self) -> Timeout:
        left = self._deadline.remaining()
        if left <= 0:
            raise _DeadlineReached
        connect = min(float(self._connect), left) if isinstance(self._connect, int | float) else left
        read = min(float(self._read), left) if isinstance(self._read, int | float) else left
        return Timeout(connect=connect, read=read, total=left)


@dataclass(frozen=True)
class _Counter:
    """Counts HTTP attempts across urllib3's internal retries (thread-safe: one extract may share it)."""

    lock: threading.Lock
    box: list[int]

    def add(self, n: int = 1) -> None:
        with self.lock:
            self.box[0] += n

    @property
    def value(self) -> int:
        return self.box[0]


class _CountingRetry(Retry):
    """``Retry`` that counts and logs every retry, so operators see rate limiting and outages in the task log."""

    counter: _Counter | None = None
    deadline: Deadline | None = None

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None) -> _CountingRetry:
        if self.deadline is not None and self.deadline.remaining() <= 0:
            raise _DeadlineReached
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.counter is not None:
            self.counter.add()
        why = f"status {response.status}" if response is not None else type(error).__name__ if error else "?"
        path = (url or "").split("?", 1)[0]
        log.warning("%s %s: %s, retrying (%s retries left)", method, path, why, new.total)
        return new

    def sleep(self, response: Any = None) -> None:
        """Wait before the next attempt, unless the wait would end past the deadline: then give up now."""
        if self.deadline is not None:
            retry_after = self.get_retry_after(response) if self.respect_retry_after_header and response else None
            wait = retry_after if retry_after is not None else self.get_backoff_time()
            if wait >= self.deadline.remaining():
                raise _DeadlineReached
        super().sleep(response)


def strip_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def join_url(base_url: str, path: str) -> str:
    """``base_url`` + ``path`` keeping the base's own path (``/R1L/api`` + ``incidents``); absolute paths win."""
    if "://" in path:
        return path
    return base_url.rstrip("/") + "/" + path.lstrip("/")


class HttpTransport:
    """A session for one extract: auth headers, retries, timeouts, JSON decoding and error mapping."""

    def __init__(self, config: RestApiConfig, credentials: Credentials | None, base_url: str,
                 deadline: Deadline | None = None) -> None:
        self.config = config
        self.provider = config.provider_ods
        self.credentials = credentials
        self.base_url = base_url
        self.timeout = (config.transport.connect_timeout, config.transport.read_timeout)
        self.deadline = deadline
        self._counter = _Counter(threading.Lock(), [0])
        self._token: str | None = None
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT,
                                     **config.transport.headers})
        self.session.verify = config.transport.verify_tls
        adapter = HTTPAdapter(max_retries=self._retry(), pool_maxsize=4)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._static_auth = self._static_auth_headers()

    # --- setup -------------------------------------------------------------------------------------------------

    def _retry(self) -> Retry:
        t = self.config.transport
        retry_cls = type("_ExtractRetry", (_CountingRetry,), {"counter": self._counter, "deadline": self.deadline})
        return retry_cls(
            total=t.max_retries, connect=t.max_retries, read=t.max_retries, status=t.max_retries, other=0,
            redirect=5, allowed_methods=frozenset({"GET", "POST"}), status_forcelist=RETRY_STATUSES,
            backoff_factor=t.backoff_factor, backoff_max=t.backoff_max, backoff_jitter=t.backoff_jitter,
            respect_retry_after_header=True, retry_after_max=t.max_retry_after, raise_on_status=False,
            raise_on_redirect=False,
        )

    def _secret(self, what: str, *extra_keys: str) -> str:
        creds = self.credentials
        auth = self.config.auth
        value = creds.secret(*extra_keys) if creds else None
        if not value:
            origin = creds.origin if creds else f"connection {auth.conn_id!r}"
            raise ConfigError(f"provider {self.provider}: {origin} has no {what} (set its password"
                              f"{' or extra ' + '/'.join(extra_keys) if extra_keys else ''})")
        return value

    def _static_auth_headers(self) -> dict[str, str]:
        auth = self.config.auth
        if auth.type == "bearer":
            return {"Authorization": f"Bearer {self._secret('bearer token', 'token')}"}
        if auth.type == "api_key":
            return {auth.header: self._secret("API key", "api_key")}
        return {}

    # --- requests ----------------------------------------------------------------------------------------------

    @property
    def requests_made(self) -> int:
        return self._counter.value

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def where(self, entity: str, method: str, url: str) -> str:
        return f"{entity} endpoint {method} {strip_query(url)}"

    def _send(self, method: str, url: str, entity: str, **kwargs: Any) -> requests.Response:
        where = self.where(entity, method, url)
        self._counter.add()
        timeout: Any = self.timeout
        if self.deadline is not None:
            timeout = _DeadlineTimeout(*self.timeout, deadline=self.deadline)
        try:
            return self.session.request(method, url, timeout=timeout, **kwargs)
        except _DeadlineReached:
            raise self.deadline_exceeded(where) from None
        except requests.exceptions.RequestException as exc:
            if self.deadline is not None and self.deadline.remaining() <= 0:
                raise self.deadline_exceeded(where) from None
            raise ApiError(self.provider, where, self._describe_failure(exc)) from None

    def deadline_exceeded(self, where: str) -> ApiDeadlineExceeded:
        assert self.deadline is not None
        return ApiDeadlineExceeded(
            self.provider, where, f"the extract did not finish within its deadline of {self.deadline.seconds:g} s "
                                  f"(waited {self.deadline.elapsed():.1f} s; [provider.api.timeouts] total); nothing "
                                  f"was landed or loaded")

    def _describe_failure(self, exc: requests.exceptions.RequestException) -> str:
        """Name the timeout or connection problem; the retry count makes clear we already tried again."""
        connect, read = self.timeout
        retries = self.config.transport.max_retries
        after = f" (after {retries} retr{'y' if retries == 1 else 'ies'})" if retries else ""
        reason: Any = exc.args[0] if exc.args else exc
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        chain = [exc, reason, getattr(reason, "__cause__", None), getattr(reason, "__context__", None)]
        if isinstance(exc, requests.exceptions.ReadTimeout) or any(isinstance(c, ReadTimeoutError) for c in chain):
            return f"no response within the read timeout of {read:g} s{after}"
        if any(isinstance(c, NewConnectionError) for c in chain):  # checked first: it subclasses the timeout
            return f"could not connect to {urlsplit(self.base_url).netloc}{after}: connection refused or host unknown"
        if isinstance(exc, requests.exceptions.ConnectTimeout) or any(
                isinstance(c, ConnectTimeoutError) for c in chain):
            return f"could not connect within the connect timeout of {connect:g} s{after}"
        if any(isinstance(c, ProtocolError) for c in chain) or isinstance(exc, requests.exceptions.ConnectionError):
            return f"the connection failed{after}: {type(reason).__name__}"
        return f"the request failed: {type(exc).__name__}"

    def _auth_headers(self, entity: str) -> dict[str, str]:
        if self.config.auth.type == "oauth2_client_credentials":
            if self._token is None:
                self._token = self._fetch_token(entity)
            return {"Authorization": f"Bearer {self._token}"}
        return self._static_auth

    def get_json(self, url: str, params: dict[str, str] | None, entity: str) -> tuple[Any, requests.Response]:
        """GET a page and decode it. Raises ApiAuthError / ApiError; never returns a page it could not read."""
        where = self.where(entity, "GET", url)
        resp = self._send("GET", url, entity, params=params, headers=self._auth_headers(entity))
        if resp.status_code == 401 and self.config.auth.type == "oauth2_client_credentials":
            resp.close()
            log.info("provider %s: access token refused, fetching a new one", self.provider)
            self._token = self._fetch_token(entity)
            resp = self._send("GET", url, entity, params=params, headers=self._auth_headers(entity))
        self._check_status(resp, where)
        return self._decode(resp, where), resp

    def _check_status(self, resp: requests.Response, where: str) -> None:
        status = resp.status_code
        if status in AUTH_STATUSES:
            raise ApiAuthError(self.provider, where, f"refused with {status} {resp.reason}: {self._fix_hint()}",
                               status=status)
        if status in RETRY_STATUSES:
            retries = self.config.transport.max_retries
            raise ApiError(self.provider, where, f"gave up after {retries} retr{'y' if retries == 1 else 'ies'}; "
                                                 f"last status {status} {resp.reason}", status=status)
        if status >= 400:
            raise ApiError(self.provider, where, f"failed with status {status} {resp.reason}", status=status)
        if status != 200:
            raise ApiError(self.provider, where, f"expected status 200 with a JSON page, got {status}",
                           status=status)

    def _fix_hint(self) -> str:
        auth = self.config.auth
        if auth.type == "none":
            return "the API needs credentials but auth.type is 'none' in the registry"
        conn = auth.conn_id or "?"
        origin = self.credentials.origin if self.credentials and self.credentials.origin else (
            f"environment variable {env_var_name(conn)} or the Airflow connection")
        return f"check the credentials in connection {conn!r} ({origin}) and their permissions"

    def _decode(self, resp: requests.Response, where: str) -> Any:
        content_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        body = resp.content
        head = body.lstrip()[:1]
        if "html" in content_type or head == b"<":
            raise ApiError(self.provider, where, f"returned an HTML page with status {resp.status_code} instead of "
                                                 f"JSON ({len(body)} bytes; often a proxy or login error page)",
                           status=resp.status_code)
        if not body.strip():
            raise ApiError(self.provider, where, f"returned an empty body with status {resp.status_code}",
                           status=resp.status_code)
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            pos = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise ApiError(self.provider, where, f"returned a body that is not valid JSON{pos} "
                                                 f"({len(body)} bytes, content type {content_type or 'none'})",
                           status=resp.status_code) from None

    def _fetch_token(self, entity: str) -> str:
        """OAuth2 client-credentials grant. Called once per extract, and once more if the API refuses the token."""
        auth = self.config.auth
        assert auth.token_url is not None  # checked by AuthConfig.from_dict
        url = urljoin(self.base_url.rstrip("/") + "/", auth.token_url) if "://" not in auth.token_url \
            else auth.token_url
        client_id = self.credentials.login if self.credentials else None
        if not client_id:
            origin = self.credentials.origin if self.credentials else f"connection {auth.conn_id!r}"
            raise ConfigError(f"provider {self.provider}: {origin} has no login (the OAuth2 client id)")
        secret = self._secret("client secret", "client_secret")
        data = {"grant_type": "client_credentials"}
        if auth.scope:
            data["scope"] = auth.scope
        kwargs: dict[str, Any] = {"data": data}
        if auth.client_auth == "body":
            data.update(client_id=client_id, client_secret=secret)
        else:
            kwargs["auth"] = (client_id, secret)
        where = f"{entity} token endpoint POST {strip_query(url)}"
        resp = self._send("POST", url, entity, **kwargs)
        if resp.status_code in (400, 401, 403):
            raise ApiAuthError(self.provider, where, f"refused the client credentials with {resp.status_code} "
                                                     f"{resp.reason}: {self._fix_hint()}", status=resp.status_code)
        self._check_status(resp, where)
        body = self._decode(resp, where)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiError(self.provider, where, "the token response has no 'access_token' string")
        return token
