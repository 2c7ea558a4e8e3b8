"""Secrets for API connectors: from an environment variable or an Airflow connection, never from code or the registry.

``resolve(conn_id)`` looks in this order:

1. ``PSIRF_CONN_<CONN_ID>`` (upper case, every character that is not a letter or digit becomes ``_``), either
   - a URL in Airflow's URI form, ``https://LOGIN:PASSWORD@host:port/path?extra_key=value`` (percent-encode
     special characters; the scheme, host, port and path become ``base_url``), or
   - a JSON object in Airflow's JSON form: ``{"login": ..., "password": ..., "host": ..., "port": ...,
     "schema": ..., "extra": {...}}`` (``host`` may be a full URL such as ``https://api.example.nhs.uk/v1``).
2. The Airflow connection ``conn_id`` (``airflow.sdk.Connection.get``), imported lazily so that this module works,
   and is tested, without Airflow; it only resolves inside a running task.
3. Otherwise a ConfigError naming the connection and the environment variable.

What each auth type reads: ``bearer`` the password (or extra ``token``); ``api_key`` the password (or extra
``api_key``); ``oauth2_client_credentials`` login = client id, password = client secret.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from psirf.errors import ConfigError

ENV_PREFIX = "PSIRF_CONN_"


@dataclass(frozen=True)
class Credentials:
    """What a connection holds. Secrets are kept out of ``repr`` so they never reach a log or a traceback."""

    conn_id: str
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    base_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    origin: str = ""  # "env PSIRF_CONN_X" or "airflow connection x": said in error messages

    def secret(self, *extra_keys: str) -> str | None:
        """The password, else the first of ``extra_keys`` present in extra (Airflow users often put tokens there)."""
        if self.password:
            return self.password
        for key in extra_keys:
            value = self.extra.get(key)
            if value:
                return str(value)
        return None


def env_var_name(conn_id: str) -> str:
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", conn_id).upper()


def resolve(conn_id: str) -> Credentials:
    """Credentials for ``conn_id`` from the environment, else Airflow; ConfigError when neither has it."""
    if not conn_id or not conn_id.strip():
        raise ConfigError("no connection id given for an API that needs credentials (set auth.conn_id)")
    var = env_var_name(conn_id)
    raw = os.environ.get(var)
    if raw is not None and raw.strip():
        return parse_connection(conn_id, raw.strip(), origin=f"environment variable {var}")
    found = _from_airflow(conn_id)
    if found is not None:
        return found
    raise ConfigError(f"connection {conn_id!r} not found: set the environment variable {var} (a URL such as "
                      f"https://LOGIN:SECRET@host or a JSON object) or create the Airflow connection {conn_id!r}")


def parse_connection(conn_id: str, raw: str, origin: str = "") -> Credentials:
    """Parse the URL or JSON form. Error messages never echo the value: it holds a secret."""
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"connection {conn_id!r} ({origin}) is not valid JSON (line {exc.lineno}, column "
                              f"{exc.colno})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"connection {conn_id!r} ({origin}) must be a JSON object")
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            try:
                extra = json.loads(extra)
            except json.JSONDecodeError:
                raise ConfigError(f"connection {conn_id!r} ({origin}): 'extra' is not a JSON object") from None
        if not isinstance(extra, dict):
            raise ConfigError(f"connection {conn_id!r} ({origin}): 'extra' is not a JSON object")
        return Credentials(conn_id=conn_id, login=_opt(data.get("login")), password=_opt(data.get("password")),
                           base_url=_json_base_url(data), extra=extra, origin=origin)
    parts = urlsplit(raw)
    if not parts.scheme or not parts.netloc:
        raise ConfigError(f"connection {conn_id!r} ({origin}) is neither a URL like https://LOGIN:SECRET@host "
                          f"nor a JSON object")
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    base_url = f"{parts.scheme}://{netloc}{parts.path}" if host else None
    return Credentials(conn_id=conn_id, login=_opt(unquote(parts.username or "")),
                       password=_opt(unquote(parts.password or "")), base_url=base_url,
                       extra=dict(parse_qsl(parts.query)), origin=origin)


def _opt(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _json_base_url(data: dict[str, Any]) -> str | None:
    host = _opt(data.get("host"))
    if host is None:
        return None
    if "://" in host:
        return host
    scheme = _opt(data.get("conn_type")) or "https"
    scheme = scheme if scheme in ("http", "https") else "https"
    port = f":{data['port']}" if data.get("port") else ""
    schema = f"/{str(data['schema']).strip('/')}" if data.get("schema") else ""
    return f"{scheme}://{host}{port}{schema}"


def _from_airflow(conn_id: str) -> Credentials | None:
    """The Airflow connection, or None when Airflow is absent or we are not inside a task (no API server)."""
    try:
        from airflow.sdk import Connection
    except ImportError:
        return None
    try:
        conn = Connection.get(conn_id)
    except Exception:  # not defined, or no task context: reported by the caller as "not found"
        return None
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    host = _opt(getattr(conn, "host", None))
    base_url = None
    if host:
        base_url = host if "://" in host else _json_base_url(
            {"host": host, "port": getattr(conn, "port", None), "schema": getattr(conn, "schema", None),
             "conn_type": getattr(conn, "conn_type", None)})
    return Credentials(conn_id=conn_id, login=_opt(conn.login), password=_opt(conn.password), base_url=base_url,
                       extra=dict(extra or {}), origin=f"Airflow connection {conn_id!r}")
