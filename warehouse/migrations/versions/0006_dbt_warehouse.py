"""The analysts' warehouse moves to dbt (issue 10): drop the hand-built marts, add the Duty of Candour notified date.

Revision ID: 0006_dbt_warehouse
Revises: 0005_loaded_batch_unique

The star schema and the oversight views of ``0004_marts`` are now models of the dbt project in
``warehouse/dbt`` (schemas ``staging``, ``marts``, ``oversight``, ``reference``), built by ``psirf marts`` and the
nightly DAG. Their old tables and views in the canonical schema are dropped here; they held derived data only,
which the first ``dbt build`` recreates. The canonical ``incident`` gains ``duty_of_candour_notified_date``, so
that Duty of Candour can be reported as notified, not yet notified, or not recorded.

Downgrade restores the old tables (empty: the code that refreshed them is gone with this revision) and drops the
column.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0006_dbt_warehouse"
down_revision: str | Sequence[str] | None = "0005_loaded_batch_unique"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _marts_revision() -> ModuleType:
    """The 0004 revision module (its table list and DDL), loaded from its file next to this one."""
    path = Path(__file__).with_name("0004_marts.py")
    spec = importlib.util.spec_from_file_location("_psirf_migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    marts = _marts_revision()
    for view in marts.OLD_VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")
    for table in reversed(marts.TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.add_column("incident", sa.Column(
        "duty_of_candour_notified_date", sa.Date(), nullable=True,
        comment="When the patient or family was notified under the Duty of Candour (Regulation 20)"))


def downgrade() -> None:
    op.drop_column("incident", "duty_of_candour_notified_date")
    _marts_revision().upgrade()
