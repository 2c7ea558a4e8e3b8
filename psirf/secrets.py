"""Where the pseudonymisation key comes from (an environment variable or an Airflow connection, never code), and
which keys are refused.

``PSIRF_PSEUDONYMISATION_KEY`` wins when set; otherwise the password of the Airflow connection
``psirf_pseudonymisation`` is used (resolved at task run time, never at DAG parse time).

The NHS number has only about 10^9 values, so the pseudonym is only as safe as the key is secret. Two kinds of key
are refused, with one line naming the setting:

* **the demo key** (published in ``scripts/demo_common.sh``), unless demo mode is on explicitly (``PSIRF_DEMO=1``,
  which ``make run`` and ``make distributed`` set): real data pseudonymised with a public key is not pseudonymised;
* **a guessable key** (:func:`key_problem`): shorter than 32 characters, fewer than 10 different characters, a
  short string repeated, or under 3 bits of entropy per character (Shannon estimate over the key's own characters).
  A random key passes easily: ``openssl rand -base64 48``.
"""

from __future__ import annotations

import math
import os
from collections import Counter

from psirf.errors import ConfigError

ENV_VAR = "PSIRF_PSEUDONYMISATION_KEY"
DEMO_ENV_VAR = "PSIRF_DEMO"
AIRFLOW_CONN_ID = "psirf_pseudonymisation"
DEMO_KEY = "DEMO-ONLY-pseudonymisation-key-do-not-use-in-production"
"""The demo's key (``scripts/demo_common.sh``): public, so accepted only in demo mode."""
MIN_KEY_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 10
MIN_BITS_PER_CHARACTER = 3.0


def demo_mode() -> bool:
    """``PSIRF_DEMO=1``: the demo's generated data, for which the published demo key is allowed."""
    return os.environ.get(DEMO_ENV_VAR, "").strip() == "1"


def is_demo_key(key: str) -> bool:
    return key == DEMO_KEY or key.strip().upper().startswith("DEMO-ONLY")


def key_problem(key: str) -> str | None:
    """Why ``key`` is too guessable to be a pseudonymisation key, or None when it is acceptable."""
    if len(key) < MIN_KEY_LENGTH:
        return f"it has {len(key)} characters, fewer than {MIN_KEY_LENGTH}"
    counts = Counter(key)
    if len(counts) < MIN_DISTINCT_CHARACTERS:
        return f"it uses only {len(counts)} different characters (at least {MIN_DISTINCT_CHARACTERS} needed)"
    for period in range(1, len(key) // 2 + 1):
        if key == (key[:period] * (len(key) // period + 1))[:len(key)]:
            return f"it is a string of {period} character(s) repeated"
    bits = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    if bits < MIN_BITS_PER_CHARACTER:
        return f"it has about {bits:.1f} bits of entropy per character (at least {MIN_BITS_PER_CHARACTER:g} needed)"
    return None


def pseudonymisation_key() -> bytes:
    """The key as bytes; raises :class:`ConfigError` (one line naming the setting) for a missing or refused key."""
    from_env = os.environ.get(ENV_VAR)
    key = from_env or _from_airflow()
    where = ENV_VAR if from_env else f"the password of the Airflow connection {AIRFLOW_CONN_ID!r}"
    if not key:
        raise ConfigError(
            f"no pseudonymisation key: set {ENV_VAR} or the password of the Airflow connection {AIRFLOW_CONN_ID!r}")
    if is_demo_key(key):
        if not demo_mode():
            raise ConfigError(f"{where} is the published demo key: refused for real data. Set a secret key of "
                              f"your own (e.g. `openssl rand -base64 48`), or {DEMO_ENV_VAR}=1 for demo data only")
        return key.encode("utf-8")
    problem = key_problem(key)
    if problem is not None:
        raise ConfigError(f"{where} is too guessable to be a pseudonymisation key: {problem}; use a random key "
                          f"(e.g. `openssl rand -base64 48`)")
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
