"""Read-side of the marts for reports and the CLI: the figures the dbt models define, never computed here.

Every function is a plain SELECT of a model's columns (``oversight.oversight_provider_measures``,
``oversight.oversight_safety_actions_by_provider``, ``marts.fct_dq_dimension_score``,
``marts.fct_dq_peer_benchmark``), so the feedback report, the
system report and ``psirf quality scores`` show the same numbers as an analyst querying the models.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["dimension_scores", "last_complete_month", "peer_benchmark", "provider_measures", "read",
           "safety_actions_today"]


def read(engine: Engine, sql: str, **params: Any) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(sa.text(sql), params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def last_complete_month(as_of: dt.date) -> dt.date:
    """First day of the last month that ended before ``as_of``: the end of the reporting period."""
    return (as_of.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def provider_measures(engine: Engine, period_end: dt.date, provider_ods: str | None = None) -> pd.DataFrame:
    """``oversight_provider_measures`` for the 12 months ending with ``period_end`` (one row per provider)."""
    where = " AND provider_ods = :provider" if provider_ods else ""
    return read(engine, f"SELECT * FROM oversight.oversight_provider_measures WHERE period_end = :end{where} "
                        "ORDER BY provider_ods", end=period_end, provider=provider_ods)


def safety_actions_today(engine: Engine, provider_ods: str | None = None) -> pd.DataFrame:
    """``oversight_safety_actions_by_provider``: actions by status and overdue, as at today."""
    where = " WHERE provider_ods = :provider" if provider_ods else ""
    return read(engine, f"SELECT * FROM oversight.oversight_safety_actions_by_provider{where} ORDER BY provider_ods",
                provider=provider_ods)


def dimension_scores(engine: Engine, provider_ods: str, loads: int = 10) -> pd.DataFrame:
    """``fct_dq_dimension_score`` for the provider's last ``loads`` loads: load_id, loaded_at, dimension, score,
    batches, batches_rejected (oldest load first)."""
    frame = read(engine, "SELECT load_id, loaded_at, dimension, score, batches, batches_rejected "
                         "FROM marts.fct_dq_dimension_score WHERE provider_ods = :provider", provider=provider_ods)
    if frame.empty:
        return frame
    frame["loaded_at"] = frame.groupby("load_id")["loaded_at"].transform("min")
    recent = frame.drop_duplicates("load_id").sort_values("loaded_at")["load_id"].tail(loads)
    frame = frame[frame["load_id"].isin(recent)].copy()
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce").astype(float)
    return frame.sort_values(["loaded_at", "dimension"]).reset_index(drop=True)


def peer_benchmark(engine: Engine) -> pd.DataFrame:
    """``fct_dq_peer_benchmark``: per dimension, the ICB median and interquartile range of the providers' latest
    scores (peers unnamed; NULL quantiles with too few providers)."""
    frame = read(engine, "SELECT dimension, providers, min_peers, p25_score, median_score, p75_score, latest_load_at "
                         "FROM marts.fct_dq_peer_benchmark ORDER BY dimension")
    for column in ("p25_score", "median_score", "p75_score"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame
