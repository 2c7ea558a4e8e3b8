"""Data-quality results history (issue 4): typed models registered on the canonical ``Base.metadata``.

Written in the same transaction as the batch's ledger row (:func:`warehouse.load.load_batch`), so the history
and the ledger never disagree; rejected batches get results too, so a failed file shows as a failure.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, Double, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from warehouse.models import KEY, Base


class DqRuleResult(Base):
    """Grain: one row per (batch, layer, rule, field) checked: rows evaluated and rows failed.

    Warehouse-layer checks run per provider after loading and have no batch (``batch_id`` NULL, ``check_id`` set).
    """

    __tablename__ = "dq_rule_result"
    __table_args__ = (
        CheckConstraint("rows_failed >= 0 AND rows_failed <= rows_evaluated", name="failed_within_evaluated"),
    )

    result_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    check_id: Mapped[str] = mapped_column(String(36), index=True, comment="Batch id, or the warehouse check run id")
    batch_id: Mapped[str | None] = mapped_column(String(36), comment="Batch checked; NULL for warehouse checks")
    run_id: Mapped[str | None] = mapped_column(String(250))
    provider_ods: Mapped[str] = mapped_column(String(10), index=True)
    entity: Mapped[str] = mapped_column(String(40), comment="incidents | safety_actions | … or a warehouse table")
    layer: Mapped[str] = mapped_column(String(20), comment="raw | canonical | warehouse")
    suite: Mapped[str] = mapped_column(String(80), comment="GX suite, <layer>.<entity>")
    rule_id: Mapped[str] = mapped_column(String(80))
    field: Mapped[str | None] = mapped_column(String(100), comment="Source column (or warehouse column) checked")
    dimension: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10), comment="error | warning")
    scope: Mapped[str] = mapped_column(String(10), comment="row: counts rows | batch: one whole-file check")
    rows_evaluated: Mapped[int] = mapped_column(Integer)
    rows_failed: Mapped[int] = mapped_column(Integer)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime, comment="When the check ran (UTC)")


class DqDimensionScore(Base):
    """Grain: one row per (batch, dimension): 100 * rows passed / rows evaluated over the row-level checks.

    A rejected batch scores 0 in the dimension of the rule that rejected it.
    """

    __tablename__ = "dq_dimension_score"
    __table_args__ = (CheckConstraint("score >= 0 AND score <= 100", name="score_range"),)

    score_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36), index=True)
    run_id: Mapped[str | None] = mapped_column(String(250))
    provider_ods: Mapped[str] = mapped_column(String(10), index=True)
    entity: Mapped[str] = mapped_column(String(40))
    dimension: Mapped[str] = mapped_column(String(20))
    batch_status: Mapped[str] = mapped_column(String(20), comment="loaded | rejected, as in the ledger")
    checks_evaluated: Mapped[int] = mapped_column(Integer, comment="Sum of rows evaluated over the checks")
    checks_failed: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Double, comment="0-100")
    scored_at: Mapped[dt.datetime] = mapped_column(DateTime)


class DqRowIssue(Base):
    """Grain: one row per (batch, source row, rule, field) found but not in ``quarantine``.

    Warnings on loaded rows, and the row-level reasons a whole batch was rejected. Like the quarantine, ``found``
    never holds an identifier in clear.
    """

    __tablename__ = "dq_row_issue"

    issue_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36), index=True)
    provider_ods: Mapped[str] = mapped_column(String(10), index=True)
    entity: Mapped[str] = mapped_column(String(40))
    source_file: Mapped[str] = mapped_column(String(500))
    source_row_number: Mapped[int | None] = mapped_column(Integer, comment="1-based data row number in the file")
    source_record_id: Mapped[str | None] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(80))
    severity: Mapped[str] = mapped_column(String(10), comment="warning | error (batch rejected)")
    field: Mapped[str | None] = mapped_column(String(100), comment="Source column name")
    found: Mapped[str | None] = mapped_column(Text)
    expected: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)


DQ_TABLES = (DqRuleResult.__table__, DqDimensionScore.__table__, DqRowIssue.__table__)
