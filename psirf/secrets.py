"""Where the pseudonymisation key comes from: an environment variable or an Airflow connection, never code.

``PSIRF_PSEUDONYMISATION_KEY`` wins when set; otherwise the password of the Airflow connection
``psirf_pseudonymisation`` is used (resolved at task run time, never at DAG parse time).
"""

from __future__ import annotations

import os

from psirf.errors import ConfigError

ENV_VAR = "PSIRF_PSEUDONYMISATION_KEY"
AIRFLOW_CONN_ID = "psirf_pseudonymisation"
MIN_KEY_LENGTH = 32


def pseudonymisation_key() -> bytes:
    key = os.environ.get(ENV_VAR) or _from_airflow()
    if not key:
        raise ConfigError(
            f"no pseudonymisation key: set {ENV_VAR} or the password of the Airflow connection {AIRFLOW_CONN_ID!r}")
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(f"the pseudonymisation key must be at least {MIN_KEY_LENGTH} characters")
    return key.encode("utf-8")


def _from_airflow() -> str | None:
    try:
        from airflow.sdk import Connection
    except ImportError:
        return None
    try:
        return Connection.get(AIRFLOW_CONN_ID).password
    except Exception:  # no connection defined, or not inside a task: treated as "not configured"
        return None
