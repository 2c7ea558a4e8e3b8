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
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

LOAD_LOCK_ID = 0x50_53_49_52_46  # "PSIRF": one advisory lock id for the warehouse database


def shared_load_lock(conn: Connection) -> None:
    """Held by a load for its transaction (many loads at once)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock_shared({LOAD_LOCK_ID})")
