"""The provider's worklist in its feedback report (issue 14): its own records to act on after reconciliation
with the national LFPSE record and the PSIRP compliance check.

Three lists, each read from a model by :func:`warehouse.measures.worklist` (never recomputed here):

- records to submit to LFPSE: the provider's incidents with no LFPSE record whose submission window has closed
  (``oversight_lfpse_reconciliation``, ``local_only_past_window``). One still within its window is not listed: a
  late submission is not yet a failure;
- harm gradings (and Duty of Candour / Never Event flags) to review: incidents in both records graded
  differently, both values shown;
- responses overdue: incidents meeting a national requirement or a local PSIRP priority whose learning response is
  open past its time frame (``oversight_psirp_compliance``).

A feedback report holds only its provider's rows, so the lists are exact (no suppression: nothing here is shared
beyond the provider). Records are named by the provider's own record id, as in the rest of the report; no patient
identifiers. A national-record feed (a profile with ``record_origin = "lfpse_national"``, such as NHS England's
LFPSE export for the partner trusts) has no worklist of its own: its records appear in each trust's list.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from psirf.registry import is_national_record

log = logging.getLogger(__name__)

__all__ = ["Worklist", "for_provider", "summary_lines"]


@dataclass
class Worklist:
    provider_ods: str
    national_record: bool = False
    to_submit: list[dict[str, Any]] = field(default_factory=list)
    to_review: list[dict[str, Any]] = field(default_factory=list)
    overdue: list[dict[str, Any]] = field(default_factory=list)
    as_at: dt.date | None = None  # the national export's date: windows are judged as at this day

    @property
    def empty(self) -> bool:
        return not (self.to_submit or self.to_review or self.overdue)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if v is None or (not isinstance(v, (list, dict)) and pd.isna(v)) else v)
             for k, v in r.items()} for r in frame.to_dict("records")]


def _flag(value: Any) -> str:
    return "not recorded" if value is None else ("yes" if bool(value) else "no")


def _review_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for r in _records(frame):
        what = []
        if r["harm_disagreement"]:
            what.append(f"harm: {r['local_physical_harm']} here, {r['lfpse_physical_harm']} in LFPSE")
        if r["never_event_disagreement"]:
            what.append(f"Never Event: {_flag(r['local_never_event'])} here, {_flag(r['lfpse_never_event'])} in LFPSE")
        if r["duty_of_candour_disagreement"]:
            what.append(f"Duty of Candour: {_flag(r['local_duty_of_candour'])} here, "
                        f"{_flag(r['lfpse_duty_of_candour'])} in LFPSE")
        rows.append({**r, "differences": "; ".join(what)})
    return rows


def for_provider(engine: Any, provider_ods: str) -> Worklist | None:
    """The provider's worklist from the models; None when they are not built yet (the report goes out without)."""
    from warehouse import measures

    if is_national_record(provider_ods):
        return Worklist(provider_ods, national_record=True)
    try:
        lists = measures.worklist(engine, provider_ods)
    except sa.exc.DBAPIError as exc:
        log.warning("worklist models not readable (%s): the report leaves the worklist out", type(exc.orig).__name__)
        return None
    as_at = pd.concat([lists["to_submit"]["as_at_date"], lists["to_review"]["as_at_date"]]).dropna()
    return Worklist(provider_ods, to_submit=_records(lists["to_submit"]), to_review=_review_rows(lists["to_review"]),
                    overdue=_records(lists["overdue"]), as_at=pd.Timestamp(as_at.max()).date() if len(as_at) else None)


def summary_lines(worklist: Worklist | None) -> list[str]:
    """The worklist in the e-mail summary: one line of counts."""
    if worklist is None or worklist.national_record:
        return []
    return [f"Your worklist: {len(worklist.to_submit)} record(s) to submit to LFPSE, {len(worklist.to_review)} "
            f"grading(s) to review against LFPSE, {len(worklist.overdue)} learning response(s) overdue."]
