"""The provider feedback report: what failed, in which rows of which file, why, how to fix it, and the trend.

Produced per provider after each load (:func:`deliver_for_run`, the DAG's ``feedback`` task) from the warehouse,
and before a file is sent (:func:`write_check_report`, ``psirf check``) from the checks alone. Either way the same
four files: a self-contained HTML page (inline SVG charts, no scripts), a plain-text summary for an e-mail body,
and a CSV and an Excel workbook with every held-back row. Every query is filtered by the provider's ODS code, so a
report holds only that provider's rows; ``found`` values never contain identifiers (see the quarantine table).

Every run's report is kept: ``$PSIRF_HOME/outbox/<ODS>/<load date>/<run>/``, and ``outbox/<ODS>/index.html`` lists
them all, newest first (:func:`write_index`). The page is built from one template per section
(``templates/provider_feedback/_<section>.html.j2``, listed in :data:`SECTIONS`), so a section is added by adding
its partial and its name. Every figure comes from the dbt models through :mod:`warehouse.measures`: the scores and
the dated trend from ``fct_dq_dimension_score``, the peer benchmark from ``fct_dq_peer_benchmark``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from expectations.rules import DIMENSIONS, describe
from psirf import settings
from reports.safe_cells import write_csv, xlsx_row
from reports.worklist import summary_lines as worklist_summary

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
ROW_COLUMNS = ["source_file", "entity", "source_row_number", "source_record_id", "field", "rule_id", "found",
               "expected"]
SHEET_HEADERS = {"source_file": "Source file", "entity": "Entity", "source_row_number": "Row",
                 "source_record_id": "Record id",
                 "field": "Field", "rule_id": "Rule", "problem": "Problem", "found": "What was found",
                 "expected": "Expected", "how_to_fix": "How to fix"}
HTML_ROW_LIMIT = 500  # the page lists this many rows per table; the CSV and Excel files list every row
WARNING_EXAMPLES = 5  # per warning rule the page shows this many rows; the CSV and Excel files list every row
SECTIONS = ("files", "scores", "benchmark", "trend", "measures", "worklist", "failed", "held_back", "warnings",
            "warehouse_checks", "footer")
"""The page's sections, in order: each is ``templates/provider_feedback/_<name>.html.j2``."""


@dataclass
class Feedback:
    """Everything one report shows, for one provider and one load (or one checked file)."""

    provider_ods: str
    provider_name: str
    load_date: str  # YYYY-MM-DD
    mode: str  # "load" (after a nightly load) | "check" (a file checked before sending)
    run_id: str | None
    batches: pd.DataFrame  # batch_id, entity, source_file, status, rows_in, loaded, quarantined, duplicates, message
    results: pd.DataFrame  # rule results: layer, suite, rule_id, field, dimension, severity, scope, rows_*
    quarantined: pd.DataFrame  # ROW_COLUMNS: every row held back (quarantined, or the reasons a file was rejected)
    warnings: pd.DataFrame  # ROW_COLUMNS: loaded rows with something to fix at source
    trend: pd.DataFrame  # load_id, loaded_at, dimension, score
    scores: dict[str, float] = field(default_factory=dict)
    benchmark: pd.DataFrame = field(default_factory=pd.DataFrame)  # fct_dq_peer_benchmark: one row per dimension
    data_docs: str | None = None  # the run's Data Docs page (validation results), engineers' view
    measures: dict[str, Any] | None = None  # oversight_provider_measures: the provider's row for the last 12 months
    actions: dict[str, Any] | None = None  # oversight_safety_actions_by_provider: as at today
    worklist: Any = None  # reports.worklist.Worklist: its own records to submit, review or chase (issue 14)


# --- building the content ----------------------------------------------------------------------------------


def _fix_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as providers read them: file name only, the rule's problem and its fix next to each row."""
    out = rows.reindex(columns=ROW_COLUMNS).copy()
    out["source_file"] = out["source_file"].map(lambda p: Path(str(p)).name if pd.notna(p) else p)
    out["source_row_number"] = out["source_row_number"].astype("Int64")
    out["problem"] = out["rule_id"].map(lambda r: describe(str(r)).description)
    out["how_to_fix"] = out["rule_id"].map(lambda r: describe(str(r)).how_to_fix)
    out = out.sort_values(["source_file", "entity", "source_row_number", "rule_id", "field"], na_position="last")
    return out[list(SHEET_HEADERS)].reset_index(drop=True)


def _load_scores(trend: pd.DataFrame, load_id: str | None) -> dict[str, float]:
    """This load's score per dimension, read from the model (fct_dq_dimension_score) the trend and
    ``psirf quality scores`` read too; a dimension nothing was assessed in has no score."""
    if trend.empty:
        return {}
    rows = trend[trend["load_id"] == load_id] if load_id else trend[trend["load_id"] == trend["load_id"].iloc[-1]]
    return {str(r.dimension): float(r.score) for r in rows.itertuples() if pd.notna(r.score)}


def _rule_table(results: pd.DataFrame) -> list[dict[str, Any]]:
    if results.empty:
        return []
    failing = results.assign(failing_field=results["field"].where(results["rows_failed"] > 0))
    grouped = (failing.groupby(["layer", "rule_id", "severity", "dimension"], dropna=False)
               .agg(failed=("rows_failed", "sum"), evaluated=("rows_evaluated", "sum"),
                    fields=("failing_field", lambda f: ", ".join(sorted({str(v) for v in f.dropna() if v}))))
               .reset_index())
    grouped = grouped[grouped["failed"] > 0].sort_values(["severity", "failed"], ascending=[True, False])
    rows = []
    for r in grouped.itertuples():
        rule = describe(str(r.rule_id))
        rows.append({"layer": r.layer, "rule_id": r.rule_id, "severity": r.severity, "dimension": r.dimension,
                     "failed": int(r.failed), "evaluated": int(r.evaluated), "fields": r.fields,
                     "description": rule.description, "how_to_fix": rule.how_to_fix})
    return rows


def _charts(fb: Feedback) -> dict[str, str]:
    from reports.charts import bar_chart, line_chart

    charts: dict[str, str] = {}
    trend = fb.trend
    if len(trend):
        loads = trend_loads(trend)
        labels = [str(load["label"]) for load in loads]
        loads = [load["load_id"] for load in loads]
        series = {}
        for dimension in DIMENSIONS:
            part = trend[trend["dimension"] == dimension].set_index("load_id")["score"]
            if len(part):
                series[dimension] = [float(part[load]) if load in part.index else None for load in loads]
        charts["trend"] = line_chart(series, labels, title="Score per dimension, last loads", y_label="score (0-100)",
                                     y_max=100)
    failed = fb.results[fb.results["rows_failed"] > 0] if len(fb.results) else fb.results
    if len(failed):
        by_rule = failed.groupby("rule_id")["rows_failed"].sum().sort_values(ascending=False).head(15)
        charts["rules"] = bar_chart({f"{r} ({describe(str(r)).severity})": int(n) for r, n in by_rule.items()},
                                    title="Rows failing, by rule", x_label="rows")
        fields = failed[failed["field"].notna() & (failed["field"] != "")]
        if len(fields):
            by_field = fields.groupby("field")["rows_failed"].sum().sort_values(ascending=False).head(10)
            charts["fields"] = bar_chart({str(f): int(n) for f, n in by_field.items()},
                                         title="Worst fields (rows failing any check)", x_label="rows")
    return charts


def trend_loads(trend: pd.DataFrame) -> list[dict[str, Any]]:
    """The trend's loads, oldest first, each with its real load date and time as the label ("02 Dec 01:30"); a
    load whose files were all rejected has no score (it is left out of the lines, not drawn at 0)."""
    if trend.empty:
        return []
    out = []
    for load_id, part in trend.sort_values("loaded_at").groupby("load_id", sort=False):
        at = pd.Timestamp(part["loaded_at"].min())
        out.append({"load_id": load_id, "loaded_at": at, "label": f"{at:%d %b %H:%M}" if pd.notna(at) else "?",
                    "scored": bool(part["score"].notna().any())})
    return out


def benchmark_rows(fb: Feedback) -> list[dict[str, Any]]:
    """Per dimension: the provider's score in this load against the ICB median and interquartile range
    (``fct_dq_peer_benchmark``), and where it falls (below, within or above the middle half of providers)."""
    if fb.benchmark is None or fb.benchmark.empty:
        return []
    rows = []
    for r in fb.benchmark.itertuples():
        own = fb.scores.get(str(r.dimension))
        has = pd.notna(r.median_score)
        place = None
        if own is not None and has:
            place = "below" if own < r.p25_score else "above" if own > r.p75_score else "within"
        rows.append({"dimension": r.dimension, "score": own, "providers": int(r.providers),
                     "min_peers": int(r.min_peers), "p25": float(r.p25_score) if has else None,
                     "median": float(r.median_score) if has else None, "p75": float(r.p75_score) if has else None,
                     "place": place})
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    return sorted(rows, key=lambda row: order.get(str(row["dimension"]), 99))


def warning_summary(fb: Feedback, warns: pd.DataFrame, examples: int = WARNING_EXAMPLES) -> list[dict[str, Any]]:
    """Warnings per rule: rows affected, their share of the rows the rule checked, and the first examples."""
    if warns.empty:
        return []
    checked: dict[str, int] = {}
    if len(fb.results):
        mine = fb.results[fb.results["severity"] == "warning"]
        checked = {str(k): int(v) for k, v in mine.groupby("rule_id")["rows_evaluated"].sum().items()}
    out = []
    for rule_id, part in warns.groupby("rule_id", sort=False):
        rule = describe(str(rule_id))
        count = int(part["source_row_number"].nunique()) if part["source_row_number"].notna().any() else len(part)
        denominator = checked.get(str(rule_id)) or 0
        shown = part.head(examples).to_dict("records")
        out.append({"rule_id": rule_id, "description": rule.description, "how_to_fix": rule.how_to_fix,
                    "dimension": rule.dimension, "count": count,
                    "share": 100.0 * count / denominator if denominator else None, "checked": denominator,
                    "fields": ", ".join(sorted({str(f) for f in part["field"].dropna() if f})),
                    "examples": [{k: ("" if pd.isna(v) else v) for k, v in r.items()} for r in shown]})
    return sorted(out, key=lambda w: -int(w["count"]))


def _totals(batches: pd.DataFrame) -> dict[str, int]:
    return {k: int(batches[k].sum()) if len(batches) else 0 for k in ("rows_in", "loaded", "quarantined", "duplicates")}


def summary_text(fb: Feedback) -> str:
    """A short plain-text summary for an e-mail body: status per file, scores, the commonest problems."""
    rejected = fb.batches[fb.batches["status"] == "rejected"] if len(fb.batches) else fb.batches
    what = "check of a file before sending" if fb.mode == "check" else f"load of {fb.load_date}"
    lines = [f"Patient-safety data quality: {fb.provider_name} ({fb.provider_ods}), {what}", ""]
    if len(rejected):
        lines += [f"ACTION NEEDED: {len(rejected)} file(s) were REJECTED and nothing from them was loaded.", ""]
    for b in fb.batches.itertuples():
        status = "REJECTED" if b.status == "rejected" else b.status.upper()
        lines.append(f"- {Path(str(b.source_file)).name} ({b.entity}): {status}: {b.rows_in} rows in, {b.loaded} "
                     f"loaded, {b.quarantined} held back, {b.duplicates} exact duplicates")
        if b.status == "rejected" and isinstance(b.message, str):
            lines.append(f"  why: {b.message}")
    totals = _totals(fb.batches)
    lines += ["", f"Totals: {totals['rows_in']} rows in, {totals['loaded']} loaded, {totals['quarantined']} held back, "
                  f"{totals['duplicates']} duplicates."]
    if fb.scores:
        lines.append("Scores (100 = every check passed): " + ", ".join(
            f"{d} {fb.scores[d]:.1f}" for d in DIMENSIONS if d in fb.scores))
    if fb.measures:
        m = fb.measures
        lines.append(f"Your figures for {m['period_label']}: {m['incidents']} incidents, {m['moderate_or_worse']} with "
                     f"moderate or worse harm, Duty of Candour not recorded on {m['candour_not_recorded']}; median "
                     f"{m['median_days_to_report']} days to report, {m['share_within_target_days']}% within "
                     f"{m['reporting_target_days']} days.")
    if fb.actions:
        lines.append(f"Safety actions today: {fb.actions['open']} open, {fb.actions['overdue']} overdue.")
    lines += worklist_summary(fb.worklist)
    rules = _rule_table(fb.results)
    errors = [r for r in rules if r["severity"] == "error"][:5]
    warns = [r for r in rules if r["severity"] == "warning"][:5]
    for heading, listed in (("Rows held back, most common reasons:", errors),
                            ("Loaded, but please fix at source:", warns)):
        if listed:
            lines += ["", heading]
            lines += [f"- {r['rule_id']} ({r['fields'] or 'whole file'}): {r['failed']} - {r['how_to_fix']}"
                      for r in listed]
    lines += ["", "The attached report lists every held-back row (file, row number, record id, field, rule, what was "
                  "found and how to fix it)."]
    return "\n".join(lines) + "\n"


# --- writing the files -------------------------------------------------------------------------------------


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                       trim_blocks=True, lstrip_blocks=True)


def render_html(fb: Feedback, rows: pd.DataFrame, warns: pd.DataFrame) -> str:
    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        shown = frame.head(HTML_ROW_LIMIT).to_dict("records")
        return [{k: ("" if pd.isna(v) else v) for k, v in r.items()} for r in shown]

    rules = _rule_table(fb.results)
    batch_rules = [r for r in rules if r["layer"] != "warehouse"]
    batches = fb.batches.to_dict("records")
    return _env().get_template("provider_feedback.html.j2").render(
        fb=fb, batches=batches, totals=_totals(fb.batches[fb.batches["status"] != "rejected"]
                                              if len(fb.batches) else fb.batches),
        all_totals=_totals(fb.batches), rejected=[b for b in batches if b["status"] == "rejected"],
        charts=_charts(fb), rules=batch_rules, warehouse_rules=[r for r in rules if r["layer"] == "warehouse"],
        scores=[(d, fb.scores[d]) for d in DIMENSIONS if d in fb.scores], rows=records(rows), rows_total=len(rows),
        warning_rules=warning_summary(fb, warns), warnings_total=len(warns), examples=WARNING_EXAMPLES,
        benchmark=benchmark_rows(fb), loads=trend_loads(fb.trend), limit=HTML_ROW_LIMIT, headers=SHEET_HEADERS,
        sections=SECTIONS, generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))


def write_excel(path: Path, fb: Feedback, rows: pd.DataFrame, warns: pd.DataFrame) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    summary.append(xlsx_row(["Provider", fb.provider_ods, fb.provider_name]))
    summary.append(xlsx_row(["Load date" if fb.mode == "load" else "Checked on", fb.load_date]))
    summary.append([])
    summary.append(xlsx_row(["File", "Entity", "Status", "Rows in", "Loaded", "Held back", "Duplicates", "Message"]))
    for b in fb.batches.itertuples():
        summary.append(xlsx_row([Path(str(b.source_file)).name, b.entity, b.status, int(b.rows_in), int(b.loaded),
                                 int(b.quarantined), int(b.duplicates),
                                 b.message if isinstance(b.message, str) else None]))
    for cell in summary[4]:
        cell.font = Font(bold=True)
    for title, frame in (("Held back rows", rows), ("Warnings", warns)):
        sheet = book.create_sheet(title)
        sheet.append(xlsx_row(SHEET_HEADERS.values()))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for record in frame.itertuples(index=False):
            sheet.append(xlsx_row(record))
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions
        for letter, width in zip("ABCDEFGHIJ", (28, 14, 7, 12, 22, 30, 50, 30, 30, 60), strict=True):
            sheet.column_dimensions[letter].width = width
    book.save(path)


def write_report(fb: Feedback, out_dir: Path) -> dict[str, str]:
    """Write the four files to ``out_dir``; returns their paths by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{fb.provider_ods}_{fb.load_date}"
    rows, warns = _fix_columns(fb.quarantined), _fix_columns(fb.warnings)
    files = {"html": out_dir / f"data_quality_{stem}.html", "summary": out_dir / f"summary_{stem}.txt",
             "csv": out_dir / f"held_back_rows_{stem}.csv", "xlsx": out_dir / f"held_back_rows_{stem}.xlsx"}
    files["html"].write_text(render_html(fb, rows, warns), encoding="utf-8")
    files["summary"].write_text(summary_text(fb), encoding="utf-8")
    write_csv(files["csv"], rows.rename(columns=SHEET_HEADERS))
    write_excel(files["xlsx"], fb, rows, warns)
    _write_manifest(out_dir, fb, files, len(rows), len(warns))
    return {kind: str(path) for kind, path in files.items()}


MANIFEST = "report.json"


def _write_manifest(out_dir: Path, fb: Feedback, files: dict[str, Path], held_back: int, warnings: int) -> None:
    """What the provider's index page lists for this report (no rows, only counts and file names)."""
    import json

    rejected = int((fb.batches["status"] == "rejected").sum()) if len(fb.batches) else 0
    manifest = {"provider_ods": fb.provider_ods, "load_date": fb.load_date, "run_id": fb.run_id, "mode": fb.mode,
                "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
                "written_at": dt.datetime.now(dt.UTC).isoformat(), "files": len(fb.batches),
                "rejected": rejected, "held_back": held_back, "warnings": warnings,
                "scores": {d: fb.scores[d] for d in DIMENSIONS if d in fb.scores},
                "links": {kind: path.name for kind, path in files.items()}}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def write_index(provider_ods: str, root: Path | None = None) -> Path:
    """``outbox/<ODS>/index.html``: every report kept for the provider, newest first, with links."""
    import json

    folder = root or outbox_root(provider_ods)
    reports = []
    for manifest in folder.glob(f"*/*/{MANIFEST}"):
        try:
            entry = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        entry["folder"] = manifest.parent.relative_to(folder).as_posix()
        reports.append(entry)
    reports.sort(key=lambda e: (str(e.get("load_date")), str(e.get("written_at") or e.get("generated"))),
                 reverse=True)
    page = folder / "index.html"
    page.write_text(_env().get_template("provider_index.html.j2").render(
        provider_ods=provider_ods, provider_name=provider_name(provider_ods), reports=reports, dimensions=DIMENSIONS,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")), encoding="utf-8")
    return page


# --- after a load: from the warehouse ----------------------------------------------------------------------


def provider_name(ods_code: str) -> str:
    from psirf.registry import get_provider

    try:
        return get_provider(ods_code).name
    except Exception:  # a report must not fail for want of a display name
        return ods_code


def from_warehouse(engine: Any, provider_ods: str, run_id: str | None, warehouse_check_id: str | None = None,
                   loads: int = 10) -> Feedback | None:
    """The report for one provider's load (its batches in ``run_id``, else its latest run); None if it had none."""
    from reports import worklist
    from warehouse import dq_results, measures

    batches = dq_results.ledger_for(engine, provider_ods, run_id)
    if batches.empty:
        return None
    batch_ids = list(batches["batch_id"])
    checks = batch_ids + ([warehouse_check_id] if warehouse_check_id else [])
    results = dq_results.rule_results(engine, provider_ods, checks)
    finished = pd.Timestamp(batches["finished_at"].max())
    load_date = finished.strftime("%Y-%m-%d")
    trend = _marts_or_empty(lambda: measures.dimension_scores(engine, provider_ods, loads))
    fb = Feedback(provider_ods=provider_ods, provider_name=provider_name(provider_ods), load_date=load_date,
                  mode="load", run_id=run_id, batches=batches, results=results,
                  quarantined=dq_results.quarantined_rows(engine, provider_ods, batch_ids),
                  warnings=dq_results.row_issues(engine, provider_ods, batch_ids),
                  trend=trend[["load_id", "loaded_at", "dimension", "score"]] if len(trend) else trend)
    load_id = run_id or str(batches["run_id"].iloc[-1] or batches["batch_id"].iloc[-1])
    fb.scores = _load_scores(trend, load_id)
    fb.benchmark = _marts_or_empty(lambda: measures.peer_benchmark(engine))
    period = measures.last_complete_month(finished.date())
    own = _marts_or_empty(lambda: measures.provider_measures(engine, period, provider_ods))
    fb.measures = own.iloc[0].to_dict() if len(own) else None
    actions = _marts_or_empty(lambda: measures.safety_actions_today(engine, provider_ods))
    fb.actions = actions.iloc[0].to_dict() if len(actions) else None
    fb.worklist = worklist.for_provider(engine, provider_ods)
    return fb


def _marts_or_empty(read: Any) -> pd.DataFrame:
    """A model's rows, or none when the marts have not been built yet (the report still goes out, without them)."""
    import sqlalchemy as sa

    try:
        frame: pd.DataFrame = read()
    except sa.exc.DBAPIError as exc:
        log.warning("marts not readable (%s): the report leaves their figures out", type(exc.orig).__name__)
        return pd.DataFrame()
    return frame


def outbox_root(provider_ods: str) -> Path:
    """``$PSIRF_HOME/outbox/<ODS>/``; refuses anything but an ODS code, so nothing is written outside it."""
    from psirf.errors import ConfigError
    from psirf.registry import ODS_CODE

    if not ODS_CODE.fullmatch(provider_ods):
        raise ConfigError(f"{provider_ods!r} is not an ODS code; the feedback report is not written")
    return settings.psirf_home() / "outbox" / provider_ods


def outbox_dir(provider_ods: str, load_date: str, run_id: str | None = None) -> Path:
    """``$PSIRF_HOME/outbox/<ODS>/<load date>/<run>/``: one folder per run, so a second run on the same day never
    overwrites the first one's report. Only an ODS code, a date and a sanitised run id make up the path."""
    from expectations.run_results import run_slug

    run = run_slug(run_id) if run_id else dt.datetime.now(dt.UTC).strftime("%H%M%S")
    return outbox_root(provider_ods) / dt.date.fromisoformat(load_date).isoformat() / run


def deliver_for_run(ods_code: str, run_id: str | None) -> dict[str, Any]:
    """Check the warehouse for the provider, build its report for the run's loads, and deliver it.

    Written to ``$PSIRF_HOME/outbox/<ODS>/<load date>/<run>/`` (the provider's ``index.html`` lists every report)
    and e-mailed when SMTP and recipients are configured. Returns references and counts only (safe for XCom),
    and each rejected file with its problem (the run's summary names them).
    """
    from expectations.warehouse_suites import check_provider
    from reports import email
    from warehouse.dq_results import ledger_for, write_warehouse_results
    from warehouse.ready import open_warehouse

    ods_code = ods_code.upper()
    engine = open_warehouse()
    try:
        if ledger_for(engine, ods_code, run_id).empty:
            return {"provider_ods": ods_code, "run_id": run_id, "delivered": [], "message": "no files in this run"}
        check_id = str(uuid.uuid4())
        results = check_provider(engine, ods_code)
        write_warehouse_results(engine, results, check_id=check_id, run_id=run_id, provider_ods=ods_code,
                                at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
        docs = _data_docs()
        fb = from_warehouse(engine, ods_code, run_id, check_id)
    finally:
        engine.dispose()
    assert fb is not None
    out_dir = outbox_dir(ods_code, fb.load_date, run_id)
    if docs is not None and run_id:
        import os

        from expectations.data_docs import run_page

        page = run_page(run_id)
        fb.data_docs = os.path.relpath(page if page.is_file() else docs, out_dir)
    files = write_report(fb, out_dir)
    index = write_index(ods_code)
    emailed: list[str] = []
    smtp = email.smtp_settings()
    to = email.recipients_for(ods_code) if smtp is not None else []
    if smtp is not None and to:
        subject = (f"{'REJECTED FILE - ' if (fb.batches['status'] == 'rejected').any() else ''}Data quality "
                   f"feedback for {ods_code}, load of {fb.load_date}")
        email.send(smtp, to, subject, Path(files["summary"]).read_text(encoding="utf-8"),
                   [Path(files["html"]), Path(files["csv"]), Path(files["xlsx"])])
        emailed = to
    rejected = int((fb.batches["status"] == "rejected").sum())
    log.info("%s: feedback report in %s (%d batch(es), %d rejected), e-mailed to %d recipient(s)", ods_code, out_dir,
             len(fb.batches), rejected, len(emailed))
    rejections = [{"file": Path(str(b.source_file)).name, "problem": str(b.message or "rejected")}
                  for b in fb.batches.itertuples() if b.status == "rejected"]
    return {"provider_ods": ods_code, "run_id": run_id, "outbox": str(out_dir), "index": str(index),
            "delivered": sorted(files), "batches": len(fb.batches), "rejected": rejected, "rejections": rejections,
            "emailed": len(emailed), "held_back_rows": len(fb.quarantined), "warnings": len(fb.warnings)}


def _data_docs() -> Path | None:
    """Rebuild the GX Data Docs (with the last runs' validation results); a failure here must not stop the
    provider getting its report. Returns the site's index page."""
    from expectations.data_docs import build_data_docs

    try:
        return build_data_docs()
    except Exception as exc:  # Data Docs are for engineers; the provider's report matters more
        log.warning("Data Docs were not rebuilt: %s: %s", type(exc).__name__, exc)
        return None


# --- before sending: from a checked file -------------------------------------------------------------------


def write_check_report(result: dict[str, Any], assessment: Any, out_dir: Path,
                       quarantine: pd.DataFrame | None = None) -> dict[str, str]:
    """The same report for a file checked with ``psirf check`` (nothing read from or written to the warehouse)."""
    from expectations.dq_checks import ROW_ISSUE_COLUMNS

    source_file = str(result["source_file"])
    batches = pd.DataFrame([{"batch_id": "check", "entity": result["entity"], "source_file": source_file,
                             "status": "rejected" if result["status"] == "rejected" else "passed",
                             "rows_in": int(result.get("rows_in") or 0), "loaded": int(result.get("loaded") or 0),
                             "quarantined": int(result.get("quarantined") or 0),
                             "duplicates": int(result.get("duplicates") or 0), "message": result.get("message")}])
    issues = assessment.row_issues.reindex(columns=ROW_ISSUE_COLUMNS).assign(source_file=source_file,
                                                                            entity=result["entity"])
    held = issues[issues["severity"] == "error"]
    if quarantine is not None and len(quarantine):
        held = pd.concat([quarantine.reindex(columns=ROW_COLUMNS), held.reindex(columns=ROW_COLUMNS)],
                         ignore_index=True)
    today = dt.date.today().isoformat()
    trend = assessment.scores.assign(load_id="this file", loaded_at=pd.Timestamp.now())
    fb = Feedback(provider_ods=str(result["provider_ods"]), provider_name=provider_name(str(result["provider_ods"])),
                  load_date=today, mode="check", run_id=None, batches=batches, results=assessment.results,
                  quarantined=held, warnings=issues[issues["severity"] == "warning"],
                  trend=trend[["load_id", "loaded_at", "dimension", "score"]])
    if result["status"] != "rejected":  # a rejected file was never assessed row by row: it has no score
        fb.scores = {r.dimension: float(r.score) for r in assessment.scores.itertuples() if pd.notna(r.score)}
    else:
        fb.trend = fb.trend.iloc[0:0]
    return write_report(fb, out_dir)
