"""The warehouse's load lock: loads share it, the marts refresh takes it alone (PostgreSQL advisory locks).

Several Airflow workers may load different providers into PostgreSQL at once; that is safe (each batch is one
transaction on its own rows). The marts refresh reads "what changed since the last refresh" by ``updated_at``, so it
must not run while a load is between writing its rows and committing them: it would save a watermark past rows it
could not yet see. Every load takes the lock *shared* at the start of its transaction and the refresh takes it
*exclusively*, so the refresh waits for loads in flight and loads that start meanwhile wait for the refresh. Both
are transaction-scoped: released at commit or rollback, never left behind by a crashed worker.

DuckDB needs none of this: one process at a time can write to the file (Airflow's ``psirf_warehouse`` pool
serialises the tasks that open it).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

LOAD_LOCK_ID = 0x50_53_49_52_46  # "PSIRF": one advisory lock id for the warehouse database


def shared_load_lock(conn: Connection) -> None:
    """Held by a load for its transaction (many loads at once)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock_shared({LOAD_LOCK_ID})")


def exclusive_load_lock(conn: Connection) -> None:
    """Held by the marts refresh for its transaction (no load in flight)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOAD_LOCK_ID})")
