"""The migrations build exactly the schema ``warehouse/models.py`` describes, on DuckDB and on PostgreSQL.

The comparison is Alembic's autogenerate (``compare_metadata``, run through ``env.py`` by
:func:`warehouse.migrate.schema_diffs`). Nothing is filtered out of it. Three things DuckDB cannot store are
reconciled in ``env.py``'s DuckDB impl and in ``warehouse.db``'s DuckDB reflection rather than ignored here:
constraint names (DuckDB generates its own, so unique constraints are matched by their columns), VARCHAR lengths
(DuckDB drops them; Alembic does not flag a missing length) and TEXT, which DuckDB stores as VARCHAR. Column
comments DuckDB does keep, so they are compared on both engines. Alembic never compares CHECK constraints, so
the ledger's conservation law is tested by behaviour instead.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warehouse import migrate
from warehouse.db import make_engine
from warehouse.models import Base


def _kinds(diffs: list[Any]) -> set[tuple[str, ...]]:
    """(operation, table[, name]) for each difference; ``modify_*`` ones come grouped in lists."""
    kinds: set[tuple[str, ...]] = set()
    for diff in diffs:
        for op in diff if isinstance(diff, list) else [diff]:
            if op[0] in ("add_index", "remove_index"):
                kinds.add((op[0], op[1].table.name, op[1].name))
            elif op[0] in ("add_column", "remove_column"):
                kinds.add((op[0], op[2], op[3].name))
            elif op[0].startswith("modify_"):
                kinds.add((op[0], op[2], op[3]))
            else:
                kinds.add((op[0],))
    return kinds


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_to_head_builds_the_models_schema(warehouse_url: str) -> None:
    assert migrate.current(warehouse_url) is None

    migrate.upgrade(warehouse_url)

    assert migrate.current(warehouse_url) == migrate.head()
    assert _tables(warehouse_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert migrate.schema_diffs(warehouse_url) == []
    migrate.upgrade(warehouse_url)  # already at head: a no-op
    assert migrate.current(warehouse_url) == migrate.head()


def test_the_comparison_sees_drift(migrated_engine: Engine) -> None:
    """Guards the test above against passing vacuously (e.g. if reflection silently returned nothing)."""
    with migrated_engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE organisation ADD COLUMN website VARCHAR(200)")
        conn.exec_driver_sql("DROP INDEX ix_quarantine_batch_id")
        conn.exec_driver_sql("COMMENT ON COLUMN organisation.org_type IS 'changed by hand'")

    assert _kinds(migrate.schema_diffs(migrated_engine)) == {
        ("remove_column", "organisation", "website"),
        ("add_index", "quarantine", "ix_quarantine_batch_id"),
        ("modify_comment", "organisation", "org_type"),
    }


def test_downgrade_to_base_then_upgrade_again(warehouse_url: str) -> None:
    migrate.upgrade(warehouse_url)

    migrate.downgrade(warehouse_url, "base")
    assert migrate.current(warehouse_url) is None
    assert _tables(warehouse_url) == {"alembic_version"}

    migrate.upgrade(warehouse_url)
    assert migrate.current(warehouse_url) == migrate.head()
    assert migrate.schema_diffs(warehouse_url) == []


@pytest.mark.parametrize(
    ("counts", "ok"),
    [
        (
            {
                "rows_in": 10,
                "loaded": 7,
                "inserted": 5,
                "updated": 1,
                "unchanged": 1,
                "quarantined": 2,
                "duplicates": 1,
            },
            True,
        ),
        (
            {
                "rows_in": 10,
                "loaded": 7,
                "inserted": 5,
                "updated": 1,
                "unchanged": 1,
                "quarantined": 2,
                "duplicates": 0,
            },
            False,
        ),
    ],
    ids=["balanced", "rows-unaccounted"],
)
def test_the_ledger_enforces_the_conservation_law(migrated_engine: Engine, counts: dict[str, int], ok: bool) -> None:
    row = {
        "batch_id": "b1",
        "run_id": None,
        "provider_ods": "RAJ",
        "entity": "incidents",
        "source_system": "s",
        "profile": "p",
        "source_file": "f.csv",
        "checksum": "c" * 64,
        "encoding": None,
        "status": "loaded",
        "message": None,
        "started_at": sa.func.now(),
        "finished_at": sa.func.now(),
        **counts,
    }
    insert = sa.insert(Base.metadata.tables["batch_ledger"]).values(**row)
    if ok:
        with migrated_engine.begin() as conn:
            conn.execute(insert)
    else:
        with pytest.raises(sa.exc.DBAPIError), migrated_engine.begin() as conn:
            conn.execute(insert)
