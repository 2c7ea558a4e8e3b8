"""The system-wide PSIRF report: one self-contained HTML file for the ICB and its partners, built from the views.

Everything in it is shared beyond a single provider, so every count goes through :mod:`reports.suppression`
(tables, and the charts drawn from the suppressed tables), and it reads only the oversight views, which hold
no free text. Incident sections cover the twelve complete months of occurred dates before the report date; safety
actions and learning responses are as at the day the report is built (the views' ``CURRENT_DATE``).

Written to ``$PSIRF_HOME/reports/system/<as-of date>/system_report.html`` by the ``psirf_system_report`` DAG
(when the nightly marts refresh has finished) and by ``psirf report --system``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine

from psirf import settings
from reports import charts
from reports.suppression import SuppressionRule, numeric, suppress_rate, suppress_table
from warehouse.db import make_engine

__all__ = ["build_for_run", "build_system_report", "report_path"]

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


def _read(engine: Engine, sql: str, **params: Any) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(sa.text(sql), params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


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


def _trend(engine: Engine, start: dt.date, end: dt.date, rule: SuppressionRule) -> Section:
    frame = _read(engine, "SELECT provider_ods, provider_name, occurred_month, incidents FROM "
                          f"vw_incidents_by_provider_month_harm WHERE month_start BETWEEN :start AND :end{_SHAREABLE}",
                  start=start, end=end)
    months = [m.strftime("%Y-%m") for m in pd.date_range(start, end, freq="MS")]
    table = pd.DataFrame()
    chart = None
    if not frame.empty:
        frame["provider"] = _provider_label(frame)
        table = _pivot(frame, "provider", "occurred_month", "incidents").reindex(columns=months, fill_value=0)
    tables = []
    if not table.empty:
        shown = suppress_table(table, rule)
        tables.append(("Incidents by provider and month of occurrence", shown))
        series = {p.split(" ", 1)[0]: [numeric(shown.loc[p, m]) for m in months] for p in table.index}
        chart = charts.line_chart(series, months, title="Incidents per month (rounded; gaps are suppressed)",
                                  y_label="incidents", width=9.0)
    return Section("Monthly trend by provider", "Patient safety incidents by month of occurrence.", chart, tables)


def _harm(engine: Engine, start: dt.date, end: dt.date, rule: SuppressionRule) -> Section:
    frame = _read(engine, "SELECT provider_ods, provider_name, physical_harm, incidents FROM "
                          f"vw_incidents_by_provider_month_harm WHERE month_start BETWEEN :start AND :end{_SHAREABLE}",
                  start=start, end=end)
    if frame.empty:
        return Section("Harm profile", "Incidents by worst physical harm.", None, [])
    frame["provider"] = frame["provider_ods"]
    shown = suppress_table(_pivot(frame, "provider", "physical_harm", "incidents", HARM_ORDER), rule)
    chart = charts.stacked_bar_chart(_chart_values(shown), title="Incidents by worst physical harm",
                                     y_label="incidents")
    return Section("Harm profile", "Incidents by the worst physical harm to any patient (LFPSE levels).", chart,
                   [("Incidents by provider and worst physical harm", shown)])


def _candour(engine: Engine, start: dt.date, end: dt.date, rule: SuppressionRule) -> Section:
    frame = _read(engine, "SELECT provider_ods, duty_of_candour_status, COUNT(*) AS incidents FROM "
                          f"vw_moderate_harm_duty_of_candour WHERE occurred_date BETWEEN :start AND :end{_SHAREABLE} "
                          "GROUP BY provider_ods, duty_of_candour_status", start=start, end=_month_end(end))
    title = "Duty of Candour"
    intro = ("Incidents with moderate or worse harm, and whether the Duty of Candour was recorded as applying. "
             "'Recorded' is the share with a decision recorded (applies or not applicable).")
    if frame.empty:
        return Section(title, intro, None, [])
    table = _pivot(frame, "provider_ods", "duty_of_candour_status", "incidents",
                   ["applies", "not applicable", "not recorded"])
    shown = suppress_table(table, rule)
    totals = table.sum(axis=1)
    recorded = totals - table.get("not recorded", 0)
    rates = {p: suppress_rate(int(recorded[p]), int(totals[p]), rule) for p in table.index}
    rates["Total"] = suppress_rate(int(recorded.sum()), int(totals.sum()), rule)
    shown["Recorded"] = [rates[p] for p in shown.index]
    chart_values = {p: float(r.rstrip("%")) for p, r in rates.items() if r.endswith("%") and p != "Total"}
    chart = charts.bar_chart(chart_values, title="Duty of Candour decision recorded (%)", x_label="%") \
        if chart_values else None
    return Section(title, intro, chart, [("Moderate or worse harm by Duty of Candour status", shown)],
                   note="Notification dates are not yet supplied by any feed, so days to notification cannot be "
                        "reported.")


def _learning(engine: Engine, rule: SuppressionRule) -> Section:
    frame = _read(engine, "SELECT provider_ods, response_type_code, responses, overdue FROM "
                          "vw_learning_response_summary")
    title, intro = "Learning responses", "Learning responses by type, and those past their due date."
    if frame.empty:
        return Section(title, intro, None, [], note="No learning responses have been loaded yet.")
    mix = suppress_table(_pivot(frame, "provider_ods", "response_type_code", "responses", RESPONSE_ORDER), rule)
    overdue = frame.groupby("provider_ods")[["responses", "overdue"]].sum()
    overdue["on time or closed"] = overdue["responses"] - overdue["overdue"]
    shown_overdue = suppress_table(overdue[["overdue", "on time or closed"]], rule)
    system = {c: numeric(mix.loc["Total", c]) or 0.0 for c in mix.columns if c != "Total"}
    chart = charts.bar_chart(system, title="Learning responses by type, all providers (rounded)")
    return Section(title, intro, chart, [("Learning responses by provider and type", mix),
                                         ("Learning responses overdue", shown_overdue)])


def _actions(engine: Engine, rule: SuppressionRule) -> Section:
    frame = _read(engine, "SELECT provider_ods, open, overdue, completed, cancelled, system_wide, "
                          "system_wide_overdue FROM vw_safety_actions_by_provider")
    title, intro = "Safety actions", "Safety actions by status today; overdue actions are open past their due date."
    if frame.empty:
        return Section(title, intro, None, [])
    frame = frame.set_index("provider_ods")
    status = pd.DataFrame({"open, not overdue": frame["open"] - frame["overdue"], "overdue": frame["overdue"],
                           "completed": frame["completed"], "cancelled": frame["cancelled"]})
    status.index.name = None
    shown = suppress_table(status.astype("int64"), rule)
    wide = pd.DataFrame({"overdue": frame["system_wide_overdue"],
                         "not overdue": frame["system_wide"] - frame["system_wide_overdue"]}).astype("int64")
    wide.index.name = None
    chart = charts.stacked_bar_chart(_chart_values(shown), title="Safety actions by status", y_label="actions")
    return Section(title, intro, chart, [("Safety actions by provider and status", shown),
                                         ("System-wide safety actions", suppress_table(wide, rule))])


def _inequalities(engine: Engine, start: dt.date, end: dt.date, rule: SuppressionRule) -> Section:
    frame = _read(engine, "SELECT ethnic_group, age_band, sex, imd_decile, is_moderate_or_worse, patients FROM "
                          f"vw_harm_inequalities WHERE month_start BETWEEN :start AND :end{_SHAREABLE}",
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


def _timeliness(engine: Engine, start: dt.date, end: dt.date, rule: SuppressionRule) -> Section:
    frame = _read(engine, "SELECT provider_ods, SUM(incidents) AS incidents, SUM(with_reported_date) AS reported, "
                          "SUM(within_2_days) AS d2, SUM(within_7_days) AS d7, SUM(within_30_days) AS d30 "
                          f"FROM vw_reporting_timeliness WHERE month_start BETWEEN :start AND :end{_SHAREABLE} "
                          "GROUP BY provider_ods", start=start, end=end)
    title, intro = "Reporting timeliness", "Days from an incident occurring to its being reported."
    if frame.empty:
        return Section(title, intro, None, [])
    frame = frame.set_index("provider_ods")
    bands = pd.DataFrame({"0-2 days": frame["d2"], "3-7 days": frame["d7"] - frame["d2"],
                          "8-30 days": frame["d30"] - frame["d7"], "over 30 days": frame["reported"] - frame["d30"],
                          "no reported date": frame["incidents"] - frame["reported"]}).astype("int64")
    bands.index.name = None
    shown = suppress_table(bands, rule)
    chart = charts.stacked_bar_chart(_chart_values(shown), title="Incidents by days to report", y_label="incidents")
    return Section(title, intro, chart, [("Incidents by provider and days from occurrence to report", shown)])


def _month_end(month_start: dt.date) -> dt.date:
    following = (month_start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def build_system_report(engine: Engine, as_of: dt.date, home: Path | None = None,
                        rule: SuppressionRule | None = None) -> Path:
    """Render the report for the twelve complete months of occurred dates before ``as_of``; returns its path."""
    rule = rule or SuppressionRule.from_env()
    end = (as_of.replace(day=1) - dt.timedelta(days=1)).replace(day=1)  # the last complete month
    start = (pd.Timestamp(end) - pd.DateOffset(months=11)).date()
    sections = [
        _trend(engine, start, end, rule), _harm(engine, start, end, rule), _candour(engine, start, end, rule),
        _learning(engine, rule), _actions(engine, rule), _inequalities(engine, start, end, rule),
        _timeliness(engine, start, end, rule),
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
