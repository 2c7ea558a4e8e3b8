"""Data-quality results history (issue 4): per batch and rule, rows evaluated and failed; per provider and load, scores per dimension.

Revision ID: 0003_data_quality
Revises: 0002_source_tracking
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0003_data_quality"
down_revision: str | Sequence[str] | None = "0002_source_tracking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
