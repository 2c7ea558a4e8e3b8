"""At most one loaded batch per (provider, entity, checksum) (issue 11): the backstop behind the per-file lock.

Revision ID: 0005_loaded_batch_unique
Revises: 0004_marts

PostgreSQL gets a partial unique index over the loaded rows. DuckDB has no partial indexes, so it gets the same
rule as a unique index on (provider_ods, entity, CASE WHEN status = 'loaded' THEN checksum END): rejected batches
index a NULL there, and NULLs never collide (``warehouse.db``'s DuckDB reflection reports it by its columns, as the
partial index it stands for). A warehouse that already holds one checksum loaded twice (the defect this fixes) is
refused with the batches named, rather than repaired behind the operator's back.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from psirf.errors import PsirfError

revision: str = "0005_loaded_batch_unique"
down_revision: str | Sequence[str] | None = "0004_marts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_batch_ledger_loaded_checksum"


def _refuse_duplicates(bind: sa.engine.Connection) -> None:
    twice = bind.execute(sa.text(
        """SELECT provider_ods, entity, checksum, COUNT(*) FROM batch_ledger WHERE status = 'loaded'
           GROUP BY provider_ods, entity, checksum HAVING COUNT(*) > 1 ORDER BY 1, 2, 3""")).all()
    if twice:
        listed = "; ".join(f"{ods} {entity} {checksum[:12]}… ({n} batches)" for ods, entity, checksum, n in twice[:5])
        raise PsirfError(f"batch_ledger holds {len(twice)} file(s) loaded more than once ({listed}): keep one loaded "
                         f"ledger row per (provider_ods, entity, checksum), then run `psirf init` again")


def upgrade() -> None:
    bind = op.get_bind()
    _refuse_duplicates(bind)
    if bind.dialect.name == "duckdb":
        op.execute(f"CREATE UNIQUE INDEX {INDEX} ON batch_ledger "
                   "(provider_ods, entity, (CASE WHEN status = 'loaded' THEN checksum END))")
    else:
        op.create_index(INDEX, "batch_ledger", ["provider_ods", "entity", "checksum"], unique=True,
                        postgresql_where=sa.text("status = 'loaded'"))


def downgrade() -> None:
    op.drop_index(INDEX, table_name="batch_ledger")
