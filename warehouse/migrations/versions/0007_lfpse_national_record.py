"""The national LFPSE record beside each provider's own (issue 14): ``incident.record_origin``.

Revision ID: 0007_lfpse_national_record
Revises: 0006_dbt_warehouse

The ICB receives an LFPSE export covering the trusts as well as each trust's LRMS feed. Both land in ``incident``
but are never merged: ``record_origin`` says which record a row is — ``local`` (the provider's own record: its LRMS
export, or a GP practice's LFPSE record, which is its only one) or ``lfpse_national`` (the national record of an
organisation that also sends its own, used only to reconcile the two). Existing rows are all ``local``. The LRMS
reference an LFPSE record carries is held in ``local_reference``, as for every other source.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_lfpse_national_record"
down_revision: str | Sequence[str] | None = "0006_dbt_warehouse"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incident", sa.Column(
        "record_origin", sa.String(20), nullable=False, server_default=sa.text("'local'"),
        comment="local: the provider's own record (its LRMS export; a GP practice's LFPSE record) | lfpse_national: "
                "the national LFPSE record of an organisation that also sends its own, kept apart for reconciliation"))


def downgrade() -> None:
    op.drop_column("incident", "record_origin")
