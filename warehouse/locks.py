"""The warehouse's load lock: loads share it, the marts build takes it alone (PostgreSQL advisory locks).

Several Airflow workers may load different providers into PostgreSQL at once; that is safe (each batch is one
transaction on its own rows). The incremental models of the dbt project read "what changed since their watermark"
by ``updated_at``, so they must not run while a load is between writing its rows and committing them: they would
move the watermark past rows they could not yet see. Every load takes the lock *shared* at the start of its
transaction and every incremental model takes it *exclusively* for its own transaction (the dbt macro
``psirf_hold_load_lock``, with this id in the project's ``load_lock_id`` var), so a model waits for loads in flight
and loads that start meanwhile wait for it. Both are transaction-scoped: released at commit or rollback, never
left behind by a crashed worker.

DuckDB needs none of this: one process at a time can write to the file (Airflow's ``psirf_warehouse`` pool
serialises the tasks that open it).

**One file, one loaded batch.** Two loads of the same file can run at once: a second Airflow attempt while a
zombie first one is still running, a scheduler restart, two operators. The "already loaded?" check before the
work is only a fast path; the load itself takes a per-file lock inside its transaction and checks the ledger again
under it, so the second load waits for the first to commit and then finds the file loaded. On PostgreSQL the lock
is a transaction-scoped advisory lock keyed on the provider and the file's checksum (:func:`file_lock`); on DuckDB,
whose file admits one process, a process-wide lock per file (:func:`process_file_lock`) taken *before* the
transaction begins, so the transaction's snapshot already sees the other load's commit. The ledger's unique index
over loaded batches is the backstop.

**One marts build at a time.** Two builds at once (two operators, an Airflow retry next to a CLI run) would race
on creating the dbt schemas and relations ("duplicate key ... pg_namespace"); on PostgreSQL every dbt command that
writes holds :func:`marts_build_lock`, a session lock on its own connection, released when the command ends or the
process dies.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

LOAD_LOCK_ID = 0x50_53_49_52_46  # "PSIRF": one advisory lock id for the warehouse database
FILE_LOCK_CLASS = 0x50_53_46  # "PSF": the namespace of per-file locks (two-int advisory keys, apart from the above)
MARTS_LOCK_ID = 0x50_53_49_52_4D  # "PSIRM": one dbt build at a time

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def shared_load_lock(conn: Connection) -> None:
    """Held by a load for its transaction (many loads at once)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock_shared({LOAD_LOCK_ID})")


def exclusive_load_lock(conn: Connection) -> None:
    """Held for a transaction that must see no load in flight (the dbt models take it in SQL, the same id)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOAD_LOCK_ID})")


def _file_key(provider_ods: str, checksum: str) -> int:
    """A signed 32-bit key for (provider, checksum): two different files may share one (they then wait for each
    other, harmlessly); one file always gets the same."""
    digest = hashlib.sha256(f"{provider_ods}\x00{checksum}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


def file_lock(conn: Connection, provider_ods: str, checksum: str) -> None:
    """PostgreSQL: hold the file's lock until this transaction ends (commit, rollback or a dead connection)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({FILE_LOCK_CLASS}, {_file_key(provider_ods, checksum)})")


@contextmanager
def process_file_lock(provider_ods: str, checksum: str) -> Iterator[None]:
    """One load of a file at a time in this process (DuckDB's case: threads sharing one engine)."""
    name = f"{provider_ods}\x00{checksum}"
    with _process_locks_guard:
        lock = _process_locks.setdefault(name, threading.Lock())
    with lock:
        yield


@contextmanager
def marts_build_lock(url: str) -> Iterator[None]:
    """PostgreSQL: wait for any other dbt build on this warehouse, hold the lock while the body runs."""
    if not url.startswith("postgresql"):
        yield
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MARTS_LOCK_ID})")
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MARTS_LOCK_ID})")
                conn.commit()
    finally:
        engine.dispose()
