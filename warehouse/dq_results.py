"""Data-quality results history: rows for the dq tables, and the read-side questions the feedback report asks.

Batch results are written by :func:`warehouse.load.load_batch` / :func:`warehouse.load.record_rejection` in the
batch's own transaction (this module only shapes the rows); warehouse-layer results, which are per provider and
not per batch, are written here in a transaction of their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from transforms.keys import natural_keys
from warehouse.dq_models import DqDimensionScore, DqRowIssue, DqRuleResult
from warehouse.models import Base

__all__ = ["BatchQuality", "batch_frames", "ledger_for", "quarantined_rows", "recent_row_counts",
           "row_issues", "rule_results", "write_warehouse_results"]

_ledger = Base.metadata.tables["batch_ledger"]
_results = cast(sa.Table, DqRuleResult.__table__)
_scores = cast(sa.Table, DqDimensionScore.__table__)
_issues = cast(sa.Table, DqRowIssue.__table__)
_quarantine = Base.metadata.tables["quarantine"]


@dataclass
class BatchQuality:
    """One batch's assessment as frames (see :class:`expectations.dq_checks.Assessment`)."""

    results: pd.DataFrame
    scores: pd.DataFrame
    row_issues: pd.DataFrame


def _keys(*parts: pd.Series | str | None, n: int) -> pd.Series:
    series = [p.astype("string").fillna("").reset_index(drop=True) if isinstance(p, pd.Series)
              else pd.Series([p or ""] * n, dtype="string") for p in parts]
    return natural_keys(*series)


def batch_frames(quality: BatchQuality, *, batch_id: str, run_id: str | None, provider_ods: str, entity: str,
                 source_file: str, status: str, at: dt.datetime) -> dict[str, pd.DataFrame]:
    """Rows for ``dq_rule_result``, ``dq_dimension_score`` and ``dq_row_issue``, keyed so they cannot repeat."""
    r = quality.results.reset_index(drop=True)
    results = pd.DataFrame({
        "result_key": _keys(batch_id, r["layer"], r["rule_id"], r["field"], n=len(r)),
        "check_id": batch_id, "batch_id": batch_id, "run_id": run_id, "provider_ods": provider_ods,
        "entity": entity, **{c: r[c] for c in ("layer", "suite", "rule_id", "field", "dimension", "severity", "scope",
                                              "rows_evaluated", "rows_failed")},
        "checked_at": at}, index=r.index)
    results = results.drop_duplicates("result_key")
    s = quality.scores.reset_index(drop=True)
    scores = pd.DataFrame({
        "score_key": _keys(batch_id, s["dimension"], n=len(s)), "batch_id": batch_id, "run_id": run_id,
        "provider_ods": provider_ods, "entity": entity, "dimension": s["dimension"], "batch_status": status,
        "checks_evaluated": s["checks_evaluated"], "checks_failed": s["checks_failed"],
        "score": s["score"].astype(float), "scored_at": at}, index=s.index)
    i = quality.row_issues.reset_index(drop=True)
    issues = pd.DataFrame({
        "issue_key": _keys(batch_id, i["source_row_number"], i["rule_id"], i["field"], n=len(i)),
        "batch_id": batch_id, "provider_ods": provider_ods, "entity": entity, "source_file": source_file,
        "source_row_number": i["source_row_number"].astype("Int64"),
        **{c: i[c] for c in ("source_record_id", "rule_id", "severity", "field", "found", "expected", "message")}},
        index=i.index)
    issues = issues.drop_duplicates("issue_key")
    return {"dq_rule_result": results, "dq_dimension_score": scores, "dq_row_issue": issues}


def write_warehouse_results(engine: Engine, results: pd.DataFrame, *, check_id: str, run_id: str | None,
                            provider_ods: str, at: dt.datetime) -> int:
    """Store one run of the warehouse suites for a provider (its own transaction: it follows the loads)."""
    rows = [{"result_key": _keys(check_id, r.layer, r.suite, r.rule_id, r.field, n=1)[0], "check_id": check_id,
             "batch_id": None, "run_id": run_id, "provider_ods": provider_ods, "entity": r.suite.split(".", 1)[-1],
             "layer": r.layer, "suite": r.suite, "rule_id": r.rule_id, "field": r.field, "dimension": r.dimension,
             "severity": r.severity, "scope": r.scope, "rows_evaluated": int(r.rows_evaluated),
             "rows_failed": int(r.rows_failed), "checked_at": at} for r in results.itertuples(index=False)]
    if rows:
        with engine.begin() as conn:
            conn.execute(sa.insert(_results), rows)
    return len(rows)


# --- reads -------------------------------------------------------------------------------------------------


def recent_row_counts(engine: Engine, provider_ods: str, entity: str, limit: int = 10) -> list[int]:
    """Rows in of the provider's last loaded batches of ``entity``: the history the raw volume band uses."""
    query = (sa.select(_ledger.c.rows_in)
             .where(_ledger.c.provider_ods == provider_ods, _ledger.c.entity == entity, _ledger.c.status == "loaded")
             .order_by(_ledger.c.started_at.desc()).limit(limit))
    with engine.connect() as conn:
        return [int(v) for v in conn.scalars(query)]


def _frame(engine: Engine, query: Any) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def ledger_for(engine: Engine, provider_ods: str, run_id: str | None = None,
               batch_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The provider's ledger rows for a run (or given batches); without either, its batches of its latest run."""
    c = _ledger.c
    query = sa.select(_ledger).where(c.provider_ods == provider_ods)
    if batch_ids is not None:
        query = query.where(c.batch_id.in_(list(batch_ids)))
    elif run_id is not None:
        query = query.where(c.run_id == run_id)
    else:
        latest = (sa.select(sa.func.coalesce(c.run_id, c.batch_id)).where(c.provider_ods == provider_ods)
                  .order_by(c.started_at.desc()).limit(1).scalar_subquery())
        query = query.where(sa.func.coalesce(c.run_id, c.batch_id) == latest)
    return _frame(engine, query.order_by(c.started_at, c.batch_id))


def rule_results(engine: Engine, provider_ods: str, check_ids: Sequence[str]) -> pd.DataFrame:
    t = _results.c
    query = sa.select(_results).where(t.provider_ods == provider_ods, t.check_id.in_(list(check_ids)))
    return _frame(engine, query.order_by(t.layer, t.rule_id, t.field))


def quarantined_rows(engine: Engine, provider_ods: str, batch_ids: Sequence[str]) -> pd.DataFrame:
    """Every held-back row of these batches: the quarantine, plus the reasons a rejected batch was rejected."""
    q = _quarantine.c
    held = sa.select(q.batch_id, q.entity, q.source_file, q.source_row_number, q.source_record_id, q.rule_id, q.field,
                     q.found, q.expected).where(q.provider_ods == provider_ods, q.batch_id.in_(list(batch_ids)))
    i = _issues.c
    rejected = sa.select(i.batch_id, i.entity, i.source_file, i.source_row_number, i.source_record_id, i.rule_id,
                         i.field, i.found, i.expected).where(i.provider_ods == provider_ods, i.severity == "error",
                                                            i.batch_id.in_(list(batch_ids)))
    return _frame(engine, sa.union_all(held, rejected))


def row_issues(engine: Engine, provider_ods: str, batch_ids: Sequence[str], severity: str = "warning") -> pd.DataFrame:
    i = _issues.c
    query = sa.select(i.batch_id, i.entity, i.source_file, i.source_row_number, i.source_record_id, i.rule_id,
                      i.field, i.found, i.expected).where(i.provider_ods == provider_ods, i.severity == severity,
                                                          i.batch_id.in_(list(batch_ids)))
    return _frame(engine, query)


def history_or_empty(provider_ods: str, entity: str) -> list[int]:
    """:func:`recent_row_counts` on the configured warehouse; empty (no volume band) when it cannot be read.

    The volume band is a warning, so a warehouse that is not reachable from the transform step must not fail it.
    """
    import logging

    from warehouse.db import make_engine

    try:
        engine = make_engine()
    except Exception:  # a bad URL surfaces at load time, with its own clear error
        return []
    try:
        return recent_row_counts(engine, provider_ods, entity)
    except sa.exc.SQLAlchemyError as exc:
        logging.getLogger(__name__).info("no row-count history for %s %s: %s", provider_ods, entity,
                                         type(exc).__name__)
        return []
    finally:
        engine.dispose()
