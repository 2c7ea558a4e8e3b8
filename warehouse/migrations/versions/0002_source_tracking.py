"""Source tracking for every source family (issue 3): watermarks, upstream updates and deletions, schema drift.

Revision ID: 0002_source_tracking
Revises: 0001_initial
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0002_source_tracking"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
