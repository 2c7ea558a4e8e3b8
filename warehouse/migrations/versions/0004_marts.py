"""Analysts' star schema, oversight views and PostgreSQL access roles (issue 5).

Revision ID: 0004_marts
Revises: 0003_data_quality
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004_marts"
down_revision: str | Sequence[str] | None = "0003_data_quality"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
