"""The system-wide PSIRF report: one self-contained HTML file for the ICB and its partners, built from the marts.

Everything in it is shared beyond a single provider, so every count goes through :mod:`reports.suppression`
(tables, and the charts drawn from the suppressed tables), and it reads only the dbt oversight models, which hold
no free text. Every figure is read from a model: Duty of Candour, timeliness, Never Events and learning-response
coverage from ``oversight_provider_measures`` (per provider) and ``oversight_system_measures`` (the totals) for the
twelve complete months of occurred dates before the report date; monthly counts, harm and inequalities from the
monthly oversight models for the same months; safety actions as at the day the marts were built. System oversight
(issue 14): LFPSE submission completeness and harm-grading disagreements from the reconciliation models over the
whole national export (``oversight_lfpse_completeness_shareable``, ``oversight_lfpse_harm_disagreements``), and
compliance with national requirements from ``oversight_psirp_compliance_by_provider``, as at the report date.

Written to ``$PSIRF_HOME/reports/system/<as-of date>/system_report.html`` by the ``psirf_system_report`` DAG
(when the nightly marts build has finished) and by ``psirf report --system``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine

from psirf import settings
from reports import charts
from reports.suppression import SuppressionRule, numeric, suppress_share, suppress_statistic, suppress_table
from warehouse.db import make_engine
from warehouse.measures import (
    last_complete_month,
    lfpse_completeness_shared,
    lfpse_harm_disagreements_shared,
    national_requirements,
    provider_measures,
    psirp_compliance_shared,
    read,
    safety_actions_today,
)

__all__ = ["build_for_run", "build_system_report", "report_figures", "report_path"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
HARM_ORDER = ["No physical harm", "Low physical harm", "Moderate physical harm", "Severe physical harm", "Fatal",
              "Unknown / not recorded"]
RESPONSE_ORDER = ["psii", "aar", "swarm", "mdt", "thematic", "local", "none", "unknown"]

_SHAREABLE = " AND NOT data_sharing_opt_out"
"""Incidents whose patient opted out of data sharing (LFPSE) never reach a shared output."""


@dataclass
class Section:
    """One part of the report: a heading, an explanation, an optional chart and suppressed tables."""

    title: str
    intro: str
    chart: str | None
    tables: list[tuple[str, pd.DataFrame]]
    note: str = ""


def report_path(as_of: dt.date, home: Path | None = None) -> Path:
    return (home or settings.psirf_home()) / "reports" / "system" / as_of.isoformat() / "system_report.html"


def _pivot(frame: pd.DataFrame, index: str, columns: str, values: str, order: list[str] | None = None) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame()
    table = frame.pivot_table(index=index, columns=columns, values=values, aggfunc="sum", fill_value=0)
    if order is not None:
        table = table.reindex(columns=[c for c in order if c in table.columns])
    table.columns.name = None
    table.index.name = None
    return table.astype("int64")


def _chart_values(shown: pd.DataFrame, total_label: str = "Total") -> dict[str, dict[str, float]]:
    """Suppressed table → ``{row: {column: value}}`` for charts, without totals and with hidden cells as 0."""
    body = shown.drop(index=total_label, errors="ignore").drop(columns=total_label, errors="ignore")
    return {str(r): {str(c): numeric(body.loc[r, c]) or 0.0 for c in body.columns} for r in body.index}


def _provider_label(frame: pd.DataFrame) -> pd.Series:
    return frame["provider_ods"] + " " + frame["provider_name"].str.title().str.replace("Nhs", "NHS")


@dataclass
class Figures:
    """The models' rows one report is built from (exact, before suppression): what a test compares."""

    providers: pd.DataFrame  # oversight_provider_measures, the period's row per provider
    system: dict[str, Any]  # oversight_system_measures, the period's row
    actions: pd.DataFrame  # oversight_safety_actions_by_provider


def report_figures(engine: Engine, as_of: dt.date) -> Figures:
    end = last_complete_month(as_of)
    system = read(engine, "SELECT * FROM oversight.oversight_system_measures WHERE period_end = :end", end=end)
    return Figures(provider_measures(engine, end).set_index("provider_ods"),
                   system.iloc[0].to_dict() if len(system) else {}, safety_actions_today(engine))


def _trend(engine: Engine, start: dt.date, end: dt.date, rule: SuppressionRule) -> Section:
    frame = read(engine, "SELECT provider_ods, provider_name, occurred_month, incidents FROM "
                         f"oversight.oversight_incidents_by_harm WHERE month_start BETWEEN :start AND :end{_SHAREABLE}",
                 start=start, end=end)
    months = [m.strftime("%Y-%m") for m in pd.date_range(start, end, freq="MS")]
    tables, chart = [], None
    if not frame.empty:
        frame["provider"] = _provider_label(frame)
        table = _pivot(frame, "provider", "occurred_month", "incidents").reindex(columns=months, fill_value=0)
        shown = suppress_table(table, rule)
        tables.append(("Incidents by provider and month of occurrence", shown))
        series = {p.split(" ", 1)[0]: [numeric(shown.loc[p, m]) for m in months] for p in table.index}
        chart = charts.line_chart(series, months, title="Incidents per month (rounded; gaps are suppressed)",
                                  y_label="incidents", width=9.0)
    return Section("Monthly trend by provider", "Patient safety incidents by month of occurrence.", chart, tables)


def _harm(engine: Engine, start: dt.date, end: dt.date, rule: SuppressionRule) -> Section:
    frame = read(engine, "SELECT provider_ods, physical_harm, incidents FROM oversight.oversight_incidents_by_harm "
                         f"WHERE month_start BETWEEN :start AND :end{_SHAREABLE}", start=start, end=end)
    if frame.empty:
        return Section("Harm profile", "Incidents by worst physical harm.", None, [])
    shown = suppress_table(_pivot(frame, "provider_ods", "physical_harm", "incidents", HARM_ORDER), rule)
    chart = charts.stacked_bar_chart(_chart_values(shown), title="Incidents by worst physical harm",
                                     y_label="incidents")
    return Section("Harm profile", "Incidents by the worst physical harm to any patient (LFPSE levels).", chart,
                   [("Incidents by provider and worst physical harm", shown)])


def _with_total(figures: Figures, columns: dict[str, str]) -> pd.DataFrame:
    """Exact counts per provider (rows) for the given model columns, renamed for display."""
    frame = figures.providers[list(columns)].rename(columns=columns).astype("int64")
    frame.index.name = None
    return frame


def _shares(figures: Figures, share: str, numerator: list[str], denominator: str,
            rule: SuppressionRule) -> dict[str, str]:
    """The model's share per provider and for the system, hidden where it would disclose a small number."""
    def shown(row: Any) -> str:
        num = int(sum(int(row[c]) for c in numerator))
        return suppress_share(row[share], num, int(row[denominator]), rule)

    out = {str(p): shown(r) for p, r in figures.providers.iterrows()}
    out["Total"] = shown(figures.system) if figures.system else "-"
    return out


def _candour(figures: Figures, rule: SuppressionRule) -> Section:
    title = "Duty of Candour"
    intro = ("Incidents with moderate or worse harm, by Duty of Candour status. The duty applies by law to moderate "
             "harm, severe harm and death, so 'not recorded' (blank, or recorded as No) is a compliance finding. "
             "'Recorded' is the share notified or recorded as applying.")
    if figures.providers.empty:
        return Section(title, intro, None, [])
    table = _with_total(figures, {"candour_notified": "notified", "candour_not_yet_notified": "not yet notified",
                                  "candour_not_recorded": "not recorded or No"})
    shown = suppress_table(table, rule)
    rates = _shares(figures, "share_candour_recorded", ["candour_notified", "candour_not_yet_notified"],
                    "moderate_or_worse", rule)
    shown["Recorded"] = [rates.get(str(p), "-") for p in shown.index]
    values = {p: float(r.rstrip("%")) for p, r in rates.items() if r.endswith("%") and p != "Total"}
    chart = charts.bar_chart(values, title="Duty of Candour recorded (%)", x_label="%") if values else None
    return Section(title, intro, chart, [("Moderate or worse harm by Duty of Candour status", shown)],
                   note="Only feeds that carry a notification date can show 'notified'.")


def _never_events(figures: Figures, rule: SuppressionRule) -> Section:
    title = "Never Events"
    intro = ("Incidents recorded as Never Events, and whether a learning response (a PSII is expected) covers each. "
             "A provider whose export does not carry the Never Event flag is shown as not supplied, never as none.")
    if figures.providers.empty:
        return Section(title, intro, None, [])
    supplied = figures.providers[figures.providers["never_event_flag_supplied"].astype(bool)]
    tables = []
    if len(supplied):
        frame = supplied[["never_events", "never_events_with_psii", "never_events_without_response"]].rename(
            columns={"never_events": "Never Events", "never_events_with_psii": "with a PSII",
                     "never_events_without_response": "no learning response"}).astype("int64")
        frame.index.name = None
        tables.append(("Never Events by provider", suppress_table(frame, rule, row_totals=False)))
    missing = sorted(set(figures.providers.index) - set(supplied.index))
    return Section(title, intro, None, tables,
                   note=f"Not supplied by: {', '.join(missing)}." if missing else "Every provider supplies the flag.")


def _learning(engine: Engine, figures: Figures, rule: SuppressionRule) -> Section:
    title = "Learning responses"
    intro = ("Which incidents a learning response covers: 'none' where the provider sends learning responses but none "
             "covers the incident, 'not supplied' where the provider sends none at all (not the same as none done).")
    tables: list[tuple[str, pd.DataFrame]] = []
    chart = None
    if not figures.providers.empty:
        coverage = _with_total(figures, {"incidents_with_response": "with a response",
                                         "incidents_without_response": "none",
                                         "incidents_responses_not_supplied": "not supplied"})
        shown = suppress_table(coverage, rule)
        tables.append(("Incidents by learning-response coverage", shown))
        chart = charts.stacked_bar_chart(_chart_values(shown), title="Incidents by learning-response coverage",
                                         y_label="incidents")
    mix = read(engine, "SELECT provider_ods, response_type_code, is_overdue "
                       "FROM oversight.oversight_learning_responses")
    if len(mix):
        mix["responses"] = 1
        tables.append(("Learning responses by provider and type",
                       suppress_table(_pivot(mix, "provider_ods", "response_type_code", "responses", RESPONSE_ORDER),
                                      rule)))
        mix["status"] = mix["is_overdue"].map({True: "overdue"}).fillna("on time or closed")
        tables.append(("Learning responses overdue", suppress_table(
            _pivot(mix, "provider_ods", "status", "responses", ["overdue", "on time or closed"]), rule)))
    return Section(title, intro, chart, tables)


def _actions(figures: Figures, rule: SuppressionRule) -> Section:
    title = "Safety actions"
    intro = "Safety actions by status as at today; overdue actions are open past their due date."
    frame = figures.actions
    if frame.empty:
        return Section(title, intro, None, [])
    frame = frame.set_index("provider_ods")
    status = pd.DataFrame({"open, not overdue": frame["open"] - frame["overdue"], "overdue": frame["overdue"],
                           "completed": frame["completed"], "cancelled": frame["cancelled"]}).astype("int64")
    status.index.name = None
    shown = suppress_table(status, rule)
    wide = pd.DataFrame({"overdue": frame["system_wide_overdue"],
                         "not overdue": frame["system_wide"] - frame["system_wide_overdue"]}).astype("int64")
    wide.index.name = None
    chart = charts.stacked_bar_chart(_chart_values(shown), title="Safety actions by status", y_label="actions")
    return Section(title, intro, chart, [("Safety actions by provider and status", shown),
                                         ("System-wide safety actions", suppress_table(wide, rule))])


def _inequalities(engine: Engine, start: dt.date, end: dt.date, rule: SuppressionRule) -> Section:
    frame = read(engine, "SELECT ethnic_group, age_band, sex, imd_decile, is_moderate_or_worse, patients FROM "
                         f"oversight.oversight_harm_inequalities WHERE month_start BETWEEN :start AND :end{_SHAREABLE}",
                 start=start, end=end)
    title = "Harm and health inequalities"
    intro = "Patients affected, by group, split by whether their physical harm was moderate or worse."
    if frame.empty:
        return Section(title, intro, None, [])
    frame["harm"] = frame["is_moderate_or_worse"].map({True: "moderate or worse", False: "none or low"})
    frame["deprivation"] = frame["imd_decile"].map(lambda d: "not supplied" if pd.isna(d) else f"decile {int(d)}")
    tables = []
    for column, label in (("ethnic_group", "Ethnic group"), ("age_band", "Age band"), ("sex", "Sex"),
                          ("deprivation", "Deprivation (IMD decile)")):
        tables.append((f"Patients by {label.lower()} and harm",
                       suppress_table(_pivot(frame, column, "harm", "patients", ["none or low", "moderate or worse"]),
                                      rule)))
    chart = charts.stacked_bar_chart(_chart_values(tables[0][1]), title="Patients by ethnic group and harm",
                                     y_label="patients")
    return Section(title, intro, chart, tables,
                   note="Deprivation is not yet supplied by any feed (it will come from the patient's LSOA, never "
                        "a postcode).")


def _timeliness(figures: Figures, rule: SuppressionRule) -> Section:
    title, intro = "Reporting timeliness", "Days from an incident occurring to its being reported."
    if figures.providers.empty:
        return Section(title, intro, None, [])
    f = figures.providers
    target = int(f["reporting_target_days"].iloc[0])
    bands = pd.DataFrame({"0-2 days": f["within_2_days"], "3-7 days": f["within_7_days"] - f["within_2_days"],
                          "8-30 days": f["within_30_days"] - f["within_7_days"],
                          "over 30 days": f["with_reported_date"] - f["within_30_days"],
                          "no reported date": f["incidents"] - f["with_reported_date"]}).astype("int64")
    bands.index.name = None
    shown = suppress_table(bands, rule)
    rates = _shares(figures, "share_within_target_days", ["within_target_days"], "with_reported_date", rule)
    shown[f"within {target} days"] = [rates.get(str(p), "-") for p in shown.index]
    medians = {str(p): suppress_statistic(None if pd.isna(r["median_days_to_report"]) else
                                          float(r["median_days_to_report"]), int(r["with_reported_date"]), "days",
                                          rule) for p, r in f.iterrows()}
    system = figures.system
    medians["Total"] = suppress_statistic(None if not system or system["median_days_to_report"] is None else
                                          float(system["median_days_to_report"]),
                                          int(system.get("with_reported_date") or 0), "days", rule)
    shown["median"] = [medians.get(str(p), "-") for p in shown.index]
    chart = charts.stacked_bar_chart(_chart_values(shown.drop(columns=[f"within {target} days", "median"])),
                                     title="Incidents by days to report", y_label="incidents")
    return Section(title, intro, chart, [("Incidents by provider and days from occurrence to report", shown)])


COMPLIANCE_STATUSES = {"met": "met", "in_progress": "in progress", "overdue": "overdue",
                       "no_response_recorded": "no response recorded",
                       "provider_sends_no_learning_responses": "provider sends no learning responses"}


def _lfpse_completeness(completeness: pd.DataFrame, rule: SuppressionRule) -> Section:
    title = "LFPSE submission completeness by provider"
    intro = ("Each provider's own incidents (its LRMS export) against the national LFPSE record of the same "
             "organisation. Completeness is the share of the incidents due for submission that have an LFPSE "
             "record: an incident is due once its submission window (by default 30 days after it was reported "
             "locally) has closed, or as soon as it reaches LFPSE. An incident still within its window is awaiting "
             "submission: late is not yet a failure, so it is left out of the figure. 'Submitted late' reached "
             "LFPSE after the window.")
    if completeness.empty:
        return Section(title, intro, None, [], note="No national LFPSE record has been loaded.")
    frame = completeness.set_index("provider_ods")
    frame.index.name = None
    due = frame[["submitted_on_time", "submitted_late", "local_only_past_window"]].rename(columns={
        "submitted_on_time": "submitted in time", "submitted_late": "submitted late",
        "local_only_past_window": "not submitted, window closed"}).astype("int64")
    shown = suppress_table(due, rule).rename(columns={"Total": "due for submission"})
    rates = {str(p): suppress_share(None if pd.isna(r["submission_completeness_pct"]) else
                                    float(r["submission_completeness_pct"]), int(r["matched"]),
                                    int(r["due_for_submission"]), rule) for p, r in frame.iterrows()}
    for p in rates:  # a share beside a hidden count would let it be worked out
        if p in shown.index and (shown.loc[p] == rule.symbol).any() and rates[p] != "-":
            rates[p] = rule.symbol
    shown["Completeness"] = [rates.get(str(p), "-") for p in shown.index]
    other = suppress_table(frame[["local_only_within_window", "lfpse_only"]].rename(columns={
        "local_only_within_window": "awaiting submission (within window)",
        "lfpse_only": "in LFPSE only"}).astype("int64"), rule, row_totals=False)
    values = {p: float(r.rstrip("%")) for p, r in rates.items() if r.endswith("%")}
    chart = charts.bar_chart(values, title="LFPSE submission completeness (%)", x_label="%") if values else None
    as_at = pd.to_datetime(frame["as_at_date"]).max()
    return Section(title, intro, chart, [("Incidents due for submission to LFPSE, by provider", shown),
                                         ("Not yet due, and records only in LFPSE", other)],
                   note=(f"National record as at {as_at:%d %B %Y} (its newest update). " if pd.notna(as_at) else "")
                   + "A record in LFPSE only may have been entered straight into LFPSE, or carry details that the "
                     "matching rule could not pair with the local record; the provider's worklist lists its "
                     "records to submit. The system-wide completeness is not shown: it is not a model figure.")


def _harm_disagreements(completeness: pd.DataFrame, pairs: pd.DataFrame, rule: SuppressionRule) -> Section:
    title = "Harm-grading disagreements"
    intro = ("Incidents in both records whose worst physical harm was graded differently in the provider's own "
             "record and in LFPSE, and whose Never Event or Duty of Candour flags differ. Each is for the provider "
             "to review: the worklist in its feedback report lists them with both gradings.")
    if completeness.empty:
        return Section(title, intro, None, [])
    frame = completeness.set_index("provider_ods")
    frame.index.name = None
    flags = frame[["matched", "harm_disagreements", "never_event_disagreements",
                   "duty_of_candour_disagreements"]].rename(columns={
        "matched": "in both records", "harm_disagreements": "harm graded differently",
        "never_event_disagreements": "Never Event flag differs",
        "duty_of_candour_disagreements": "Duty of Candour flag differs"}).astype("int64")
    tables = [("Disagreements between the local and the national record, by provider",
               suppress_table(flags, rule, row_totals=False))]
    if len(pairs):
        order = [h for h in HARM_ORDER if h in set(pairs["lfpse_physical_harm"])]
        grid = _pivot(pairs, "local_physical_harm", "lfpse_physical_harm", "pairs", order)
        grid = grid.reindex([h for h in HARM_ORDER if h in grid.index])
        grid.index = [f"local: {h}" for h in grid.index]
        grid.columns = [f"LFPSE: {h}" for h in grid.columns]
        tables.append(("Harm graded differently: local grading by LFPSE grading", suppress_table(grid, rule)))
    return Section(title, intro, None, tables)


def _compliance(compliance: pd.DataFrame, requirements: pd.DataFrame, rule: SuppressionRule) -> Section:
    title = "Compliance with national requirements"
    intro = ("Incidents meeting a national requirement for a Patient Safety Incident Investigation (PSII) or a "
             "referral, by the status of the response, as at the report date: 'met' (a linked response of the type "
             "required is completed, or the referral is recorded), 'in progress' (within its time frame), "
             "'overdue', 'no response recorded', and 'provider sends no learning responses' (not supplied, which "
             "is not the same as not done).")
    tables: list[tuple[str, pd.DataFrame]] = []
    if len(compliance):
        labels = dict(zip(requirements["requirement_id"], requirements["incident_type"], strict=False))
        long = compliance.melt(id_vars=["provider_ods", "requirement_id"], value_vars=list(COMPLIANCE_STATUSES),
                               var_name="status", value_name="count")
        long["status"] = long["status"].map(COMPLIANCE_STATUSES)
        order = list(COMPLIANCE_STATUSES.values())
        by_requirement = _pivot(long, "requirement_id", "status", "count", order)
        by_requirement.index = [_short(labels.get(r, r)) for r in by_requirement.index]
        tables.append(("Incidents meeting a national requirement, by requirement and status",
                       suppress_table(by_requirement, rule)))
        tables.append(("Incidents meeting a national requirement, by provider and status",
                       suppress_table(_pivot(long, "provider_ods", "status", "count", order), rule)))
    if len(requirements):
        listed = pd.DataFrame({
            "response needed": list(requirements["required_response"]),
            "time frame": list(requirements["time_frame"]),
            "in the data": [{"yes": "yes", "proxy": "screening proxy", "no": "not assessable"}.get(str(v), str(v))
                            for v in requirements["criterion_in_data"]],
            "source": list(requirements["source"]), "framework line dated": list(requirements["source_date"])},
            index=[_short(t) for t in requirements["incident_type"]])
        listed.attrs["text"] = True  # words, not counts: left-aligned
        tables.append(("The national requirements (seed psirf_national_requirements)", listed))
    note = ("A screening proxy lists incidents for the provider's judgement (for example, a death is listed for "
            "the judgement whether problems in care caused it). The requirements not assessable from the data "
            "supplied have no incidents above. What could and could not be verified against the published sources "
            "is in the seed's verification column and the README.")
    return Section(title, intro, None, tables, note=note)


def _short(text: str, limit: int = 90) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + " …"


def _month_end(month_start: dt.date) -> dt.date:
    following = (month_start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def _oversight(engine: Engine, rule: SuppressionRule) -> list[Section]:
    """The three system-oversight sections (LFPSE reconciliation and PSIRP compliance), read from their models."""
    completeness = lfpse_completeness_shared(engine)
    return [_lfpse_completeness(completeness, rule),
            _harm_disagreements(completeness, lfpse_harm_disagreements_shared(engine), rule),
            _compliance(psirp_compliance_shared(engine, "national"), national_requirements(engine), rule)]


def build_system_report(engine: Engine, as_of: dt.date, home: Path | None = None,
                        rule: SuppressionRule | None = None) -> Path:
    """Render the report for the twelve complete months of occurred dates before ``as_of``; returns its path."""
    rule = rule or SuppressionRule.from_env()
    end = last_complete_month(as_of)
    start = (pd.Timestamp(end) - pd.DateOffset(months=11)).date()
    figures = report_figures(engine, as_of)
    sections = [
        _trend(engine, start, end, rule), _harm(engine, start, end, rule), _candour(figures, rule),
        _never_events(figures, rule), _learning(engine, figures, rule), _actions(figures, rule),
        _inequalities(engine, start, end, rule), _timeliness(figures, rule),
        *_oversight(engine, rule),
    ]
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("system_report.html.j2").render(
        as_of=as_of, start=start, end=_month_end(end), sections=sections, rule=rule)
    path = report_path(as_of, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def build_for_run(as_of: dt.date | dt.datetime | str | None = None) -> dict[str, Any]:
    """Entry point for the DAG and the CLI: the configured warehouse, report dated ``as_of`` (default today)."""
    if isinstance(as_of, str):
        as_of = dt.date.fromisoformat(as_of[:10])
    elif isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    as_of = as_of or dt.date.today()
    engine = make_engine()
    try:
        path = build_system_report(engine, as_of)
    finally:
        engine.dispose()
    return {"as_of": as_of.isoformat(), "path": str(path)}
