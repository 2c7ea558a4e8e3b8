"""Data-quality results history (issue 4): rule results per batch, dimension scores, row-level findings.

Revision ID: 0003_data_quality
Revises: 0002_source_tracking

Written by hand to match ``warehouse/dq_models.py`` (checked by ``tests/test_migrations.py``); constraints and
indexes are named explicitly, following the model's naming convention.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_data_quality"
down_revision: str | Sequence[str] | None = "0002_source_tracking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "dq_rule_result",
        sa.Column("result_key", KEY, nullable=False),
        sa.Column("check_id", sa.String(36), nullable=False, comment="Batch id, or the warehouse check run id"),
        sa.Column("batch_id", sa.String(36), nullable=True, comment="Batch checked; NULL for warehouse checks"),
        sa.Column("run_id", sa.String(250), nullable=True),
        sa.Column("provider_ods", sa.String(10), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False,
                  comment="incidents | safety_actions | … or a warehouse table"),
        sa.Column("layer", sa.String(20), nullable=False, comment="raw | canonical | warehouse"),
        sa.Column("suite", sa.String(80), nullable=False, comment="GX suite, <layer>.<entity>"),
        sa.Column("rule_id", sa.String(80), nullable=False),
        sa.Column("field", sa.String(100), nullable=True, comment="Source column (or warehouse column) checked"),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False, comment="error | warning"),
        sa.Column("scope", sa.String(10), nullable=False, comment="row: counts rows | batch: one whole-file check"),
        sa.Column("rows_evaluated", sa.Integer(), nullable=False),
        sa.Column("rows_failed", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False, comment="When the check ran (UTC)"),
        sa.PrimaryKeyConstraint("result_key", name=op.f("pk_dq_rule_result")),
        sa.CheckConstraint("rows_failed >= 0 AND rows_failed <= rows_evaluated",
                           name=op.f("ck_dq_rule_result_failed_within_evaluated")),
    )
    op.create_index(op.f("ix_dq_rule_result_check_id"), "dq_rule_result", ["check_id"])
    op.create_index(op.f("ix_dq_rule_result_provider_ods"), "dq_rule_result", ["provider_ods"])

    op.create_table(
        "dq_dimension_score",
        sa.Column("score_key", KEY, nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=True),
        sa.Column("provider_ods", sa.String(10), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("dimension", sa.String(20), nullable=False),
        sa.Column("batch_status", sa.String(20), nullable=False, comment="loaded | rejected, as in the ledger"),
        sa.Column("checks_evaluated", sa.Integer(), nullable=False, comment="Sum of rows evaluated over the checks"),
        sa.Column("checks_failed", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False, comment="0-100"),
        sa.Column("scored_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("score_key", name=op.f("pk_dq_dimension_score")),
        sa.CheckConstraint("score >= 0 AND score <= 100", name=op.f("ck_dq_dimension_score_score_range")),
    )
    op.create_index(op.f("ix_dq_dimension_score_batch_id"), "dq_dimension_score", ["batch_id"])
    op.create_index(op.f("ix_dq_dimension_score_provider_ods"), "dq_dimension_score", ["provider_ods"])

    op.create_table(
        "dq_row_issue",
        sa.Column("issue_key", KEY, nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("provider_ods", sa.String(10), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("source_file", sa.String(500), nullable=False),
        sa.Column("source_row_number", sa.Integer(), nullable=True, comment="1-based data row number in the file"),
        sa.Column("source_record_id", sa.String(64), nullable=True),
        sa.Column("rule_id", sa.String(80), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False, comment="warning | error (batch rejected)"),
        sa.Column("field", sa.String(100), nullable=True, comment="Source column name"),
        sa.Column("found", sa.Text(), nullable=True),
        sa.Column("expected", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("issue_key", name=op.f("pk_dq_row_issue")),
    )
    op.create_index(op.f("ix_dq_row_issue_batch_id"), "dq_row_issue", ["batch_id"])
    op.create_index(op.f("ix_dq_row_issue_provider_ods"), "dq_row_issue", ["provider_ods"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dq_row_issue_provider_ods"), table_name="dq_row_issue")
    op.drop_index(op.f("ix_dq_row_issue_batch_id"), table_name="dq_row_issue")
    op.drop_table("dq_row_issue")
    op.drop_index(op.f("ix_dq_dimension_score_provider_ods"), table_name="dq_dimension_score")
    op.drop_index(op.f("ix_dq_dimension_score_batch_id"), table_name="dq_dimension_score")
    op.drop_table("dq_dimension_score")
    op.drop_index(op.f("ix_dq_rule_result_provider_ods"), table_name="dq_rule_result")
    op.drop_index(op.f("ix_dq_rule_result_check_id"), table_name="dq_rule_result")
    op.drop_table("dq_rule_result")
