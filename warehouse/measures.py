"""Read-side of the marts for reports and the CLI: the figures the dbt models define, never computed here.

Every function is a plain SELECT of a model's columns (``oversight.oversight_provider_measures``,
``oversight.oversight_safety_actions_by_provider``, ``marts.fct_dq_dimension_score``, ``marts.fct_dq_peer_benchmark``,
the LFPSE reconciliation and PSIRP compliance models), so the feedback report, the system report and
``psirf quality scores`` show the same numbers as an analyst querying the models.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["WORKLIST_COMPLIANCE_STATUS", "dimension_scores", "last_complete_month", "lfpse_completeness_shared",
           "lfpse_harm_disagreements_shared", "national_requirements", "peer_benchmark", "provider_measures",
           "psirp_compliance_shared", "read", "safety_actions_today", "worklist"]


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


# --- LFPSE reconciliation and PSIRP compliance (issue 14) -------------------------------------------------------


def lfpse_completeness_shared(engine: Engine) -> pd.DataFrame:
    """``oversight_lfpse_completeness_shareable``: submission completeness per provider over shareable records (one
    row per provider), for outputs shared beyond the ICB."""
    return read(engine, "SELECT * FROM oversight.oversight_lfpse_completeness_shareable ORDER BY provider_ods")


def lfpse_harm_disagreements_shared(engine: Engine) -> pd.DataFrame:
    """``oversight_lfpse_harm_disagreements`` over shareable records: pairs per provider, local and national
    grading."""
    return read(engine, "SELECT provider_ods, provider_name, local_physical_harm_code, local_physical_harm, "
                        "lfpse_physical_harm_code, lfpse_physical_harm, pairs "
                        "FROM oversight.oversight_lfpse_harm_disagreements WHERE NOT data_sharing_opt_out "
                        "ORDER BY provider_ods, local_physical_harm_code, lfpse_physical_harm_code")


def psirp_compliance_shared(engine: Engine, requirement_source: str = "national") -> pd.DataFrame:
    """``oversight_psirp_compliance_by_provider`` over shareable records, for one requirement source
    (``national`` or ``local_plan``): one row per provider and requirement, a column per status."""
    return read(engine, "SELECT provider_ods, provider_name, requirement_id, required_response, incidents, met, "
                        "in_progress, overdue, no_response_recorded, provider_sends_no_learning_responses "
                        "FROM oversight.oversight_psirp_compliance_by_provider "
                        "WHERE requirement_source = :source AND NOT data_sharing_opt_out "
                        "ORDER BY provider_ods, requirement_id", source=requirement_source)


def national_requirements(engine: Engine) -> pd.DataFrame:
    """The national-requirements seed as the models read it: id, wording, response, time frame, source, date."""
    return read(engine, "SELECT requirement_id, incident_type, required_response, time_frame, criterion_in_data, "
                        "source, source_date FROM reference.psirf_national_requirements ORDER BY requirement_id")


WORKLIST_COMPLIANCE_STATUS = "overdue"
"""The compliance status a provider's worklist lists as responses to chase."""


def worklist(engine: Engine, provider_ods: str) -> dict[str, pd.DataFrame]:
    """One provider's own rows to act on, read from the models (exact, its own records: no suppression):

    - ``to_submit``: ``oversight_lfpse_reconciliation`` rows ``local_only_past_window`` (no LFPSE record, window
      closed);
    - ``to_review``: matched pairs with a harm-grading or governance-flag (Duty of Candour, Never Event)
      disagreement, both values shown;
    - ``overdue``: ``oversight_psirp_compliance`` rows whose required learning response is overdue.

    Records are identified by the provider's own record id (``local_record_id`` / ``source_record_id``)."""
    recon = ("SELECT local_record_id, occurred_date, local_reported_date, submission_due_date, as_at_date, "
             "local_physical_harm, lfpse_physical_harm, harm_disagreement, local_duty_of_candour, "
             "lfpse_duty_of_candour, duty_of_candour_disagreement, local_never_event, lfpse_never_event, "
             "never_event_disagreement, lfpse_record_id, match_method "
             "FROM oversight.oversight_lfpse_reconciliation WHERE provider_ods = :provider")
    return {
        "to_submit": read(engine, f"{recon} AND reconciliation_status = 'local_only_past_window' "
                                  "ORDER BY occurred_date, local_record_id", provider=provider_ods),
        "to_review": read(engine, f"{recon} AND reconciliation_status = 'matched' "
                                  "AND (harm_disagreement OR governance_disagreement) "
                                  "ORDER BY occurred_date, local_record_id", provider=provider_ods),
        "overdue": read(engine, "SELECT source_record_id, occurred_date, requirement_source, requirement_id, "
                                "requirement, required_response, commissioned_date, response_due_date, "
                                "compliance_status FROM oversight.oversight_psirp_compliance "
                                "WHERE provider_ods = :provider AND compliance_status = :status "
                                "ORDER BY response_due_date, source_record_id, requirement_id",
                        provider=provider_ods, status=WORKLIST_COMPLIANCE_STATUS),
    }
def peer_benchmark(engine: Engine) -> pd.DataFrame:
    """``fct_dq_peer_benchmark``: per dimension, the ICB median and interquartile range of the providers' latest
    scores (peers unnamed; NULL quantiles with too few providers)."""
    frame = read(engine, "SELECT dimension, providers, min_peers, p25_score, median_score, p75_score, latest_load_at "
                         "FROM marts.fct_dq_peer_benchmark ORDER BY dimension")
    for column in ("p25_score", "median_score", "p75_score"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame
