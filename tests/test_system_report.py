"""The system-wide report: built from the dbt models on both engines, it shows exactly the models' figures, no
shared table shows a count from 1 to 7, it renders in headless Chromium with its charts, and the DAG and CLI
that build it are wired as designed."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from reports.system_report import build_system_report, report_path
from tests.marts_builders import action, incident, insert, learning_response, link, patient, seed_organisations
from warehouse.marts import refresh

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 15)  # the report covers occurred months 2025-11 … 2026-10
CHROMIUM = os.environ.get("PSIRF_CHROMIUM", "/usr/bin/chromium")


class _Cells(HTMLParser):
    """Collects the text of every table data cell, and counts inline SVG charts."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.svgs = 0
        self._in_td = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "td":
            self._in_td = True
            self.cells.append("")
        self.svgs += tag == "svg"

    def handle_endtag(self, tag: str) -> None:
        self._in_td = self._in_td and tag != "td"

    def handle_data(self, data: str) -> None:
        if self._in_td:
            self.cells[-1] += data.strip()


def _fill(engine: Engine, *, oversight: bool = False) -> None:
    seed_organisations(engine)
    incidents, patients = [], []
    for n in range(60):  # RAJ: enough to publish; R1L: a middling provider; RDE: three incidents only
        provider = "RAJ" if n < 40 else "R1L" if n < 57 else "RDE"
        occurred = dt.date(2026, 1 + n % 6, 1 + n % 27)
        inc = incident(provider, f"i{n}", occurred, reported=occurred + dt.timedelta(days=n % 40),
                       harm=["5", "5", "4", "3", "2"][n % 5], doc=True if n % 5 == 3 else None)
        incidents.append(inc)
        patients.append(patient(inc, 1, harm=inc["physical_harm_code"], ethnicity="A" if n % 3 else "N",
                                gender="1" if n % 2 else "2", bracket=str(8 + n % 5)))
    # RYC's incidents all carry the LFPSE data-sharing opt-out: no shared output may count them.
    incidents += [incident("RYC", f"o{n}", dt.date(2026, 2, 1 + n), harm="3", opt_out=True) for n in range(20)]
    insert(engine, "incident", incidents)
    insert(engine, "incident_patient", patients)
    responses = [learning_response("RAJ", f"lr{n}", kind="aar" if n % 2 else "psii", commissioned=dt.date(2026, 3, 1))
                 for n in range(12)]
    insert(engine, "learning_response", responses)
    insert(engine, "learning_response_incident", [link(r, incidents[i]) for i, r in enumerate(responses)])
    today = dt.date.today()
    insert(engine, "safety_action", [
        action("RAJ" if n < 30 else "R1L", f"a{n}", status="completed" if n % 3 == 0 else "open",
               due=today + dt.timedelta(days=-10 if n % 2 else 10), completed=today if n % 3 == 0 else None,
               system_wide=n % 4 == 0) for n in range(36)])
    if oversight:
        _fill_oversight(engine, incidents)
    refresh(engine, tests=False)


def _national(rid: str, occurred: dt.date, trust: str, reference: str | None, reported: dt.date,
              harm: str) -> dict[str, object]:
    """A record of the national LFPSE export (the X24 feed, profile record_origin lfpse_national)."""
    row = incident("X24", rid, occurred, reported=reported, harm=harm)
    row.update(record_origin="lfpse_national", location_ods=trust, local_reference=reference,
               harm_mapping_basis="lfpse")
    return row


def _fill_oversight(engine: Engine, incidents: list[dict[str, object]]) -> None:
    """The national LFPSE record and PSIRP cases beside _fill's incidents: RAJ 30 of its 40 incidents submitted
    (10 graded differently), 10 past the window; R1L all 17, RDE its 3; 10 records in LFPSE only; RQW 18 deaths (a PSII
    each: 10 met, 8 with none) and RYC's opted-out incidents never shown."""
    with engine.begin() as conn:  # the local records carry their LRMS reference
        conn.execute(sa.text("UPDATE incident SET local_reference = 'REF-' || source_record_id"))
    shift = {"5": "4", "4": "3", "3": "4", "2": "3"}
    national = []
    for n, inc in enumerate(incidents[:60]):
        if 30 <= n < 40:
            continue  # RAJ's ten never submitted
        harm = str(inc["physical_harm_code"])
        national.append(_national(f"n{n}", inc["occurred_date"], str(inc["provider_ods"]),  # type: ignore[arg-type]
                                  f"REF-{inc['source_record_id']}", inc["reported_date"] + dt.timedelta(days=2),  # type: ignore[operator]
                                  shift[harm] if n < 10 else harm))
    national += [_national(f"x{n}", dt.date(2026, 9, 1 + n), "RAJ", None, dt.date(2026, 9, 3 + n), "4")
                 for n in range(10)]  # in LFPSE only; the newest dates the export 12 September 2026
    insert(engine, "incident", national)
    deaths = [incident("RQW", f"d{n}", dt.date(2026, 4, 1 + n), reported=dt.date(2026, 4, 2 + n), harm="1")
              for n in range(18)]
    insert(engine, "incident", deaths)
    psii = [learning_response("RQW", f"dlr{n}", status="completed", commissioned=dt.date(2026, 4, 20),
                              completed=dt.date(2026, 6, 1)) for n in range(10)]
    insert(engine, "learning_response", psii)
    insert(engine, "learning_response_incident", [link(r, deaths[i]) for i, r in enumerate(psii)])
    with engine.begin() as conn:
        for n, (ods, entity) in enumerate([("RQW", "incidents"), ("RQW", "learning_responses"),
                                           ("X24", "incidents")]):
            conn.execute(sa.text(
                "INSERT INTO batch_ledger (batch_id, provider_ods, entity, source_system, profile, source_file, "
                "checksum, rows_in, loaded, inserted, updated, unchanged, quarantined, duplicates, status, "
                "started_at, finished_at) VALUES (:b, :p, :e, 's', 'p', 'f', :c, 1, 1, 1, 0, 0, 0, 0, 'loaded', "
                ":t, :t)"), {"b": f"b{n}", "p": ods, "e": entity, "c": f"{n:064d}", "t": dt.datetime(2026, 9, 1)})


class _Tables(HTMLParser):
    """Every table of the page as {caption: {row label: [cells]}}, and the column headers."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[str]]] = {}
        self.headers: dict[str, list[str]] = {}
        self._caption: str | None = None
        self._row: list[str] | None = None
        self._text: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("caption", "th", "td"):
            self._text = ""
        elif tag == "tr":
            self._row = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption" and self._text is not None:
            self._caption = self._text.strip()
            self.tables[self._caption], self.headers[self._caption] = {}, []
        elif tag in ("th", "td") and self._row is not None and self._text is not None:
            self._row.append(self._text.strip())
        elif tag == "tr" and self._row and self._caption:
            if not self.headers[self._caption]:
                self.headers[self._caption] = self._row[1:]
            else:
                self.tables[self._caption][self._row[0]] = self._row[1:]
            self._row = None
        if tag in ("caption", "th", "td"):
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text += data

    def cell(self, caption: str, row: str, column: str) -> str:
        return self.tables[caption][row][self.headers[caption].index(column)]


def test_the_report_shows_the_models_figures(migrated_engine: Engine, tmp_path: Path) -> None:
    import pandas as pd

    from reports.suppression import SuppressionRule, display_count, suppress_share, suppress_table
    from reports.system_report import report_figures

    _fill(migrated_engine)
    rule = SuppressionRule.from_env()
    figures = report_figures(migrated_engine, AS_OF)
    page = _Tables()
    html = build_system_report(migrated_engine, AS_OF, home=tmp_path).read_text(encoding="utf-8")
    page.feed(html)

    raj = figures.providers.loc["RAJ"]
    candour = "Moderate or worse harm by Duty of Candour status"
    assert raj["candour_not_recorded"] == 8  # harm 2 with nothing recorded: not recorded, never "not applicable"
    assert page.cell(candour, "RAJ", "not recorded or No") == display_count(int(raj["candour_not_recorded"]), rule)
    assert page.cell(candour, "RAJ", "Recorded") == f"{float(raj['share_candour_recorded']):.1f}%" == "50.0%"
    assert page.cell(candour, "Total", "Recorded") == f"{float(figures.system['share_candour_recorded']):.1f}%"
    timeliness = "Incidents by provider and days from occurrence to report"
    assert page.cell(timeliness, "RAJ", "median") == f"{float(raj['median_days_to_report']):.1f} days"
    assert page.cell(timeliness, "RAJ", "within 5 days") == suppress_share(
        raj["share_within_target_days"], int(raj["within_target_days"]), int(raj["with_reported_date"]), rule) == "*"
    assert page.cell(timeliness, "Total", "median") == f"{float(figures.system['median_days_to_report']):.1f} days"
    actions = figures.actions.set_index("provider_ods")
    exact = pd.DataFrame({"open, not overdue": actions["open"] - actions["overdue"], "overdue": actions["overdue"],
                          "completed": actions["completed"], "cancelled": actions["cancelled"]}).astype("int64")
    shown = suppress_table(exact, rule)  # the model's counts, through the one suppression rule
    for provider in ("RAJ", "R1L", "Total"):
        assert page.cell("Safety actions by provider and status", provider, "overdue") == shown.loc[provider, "overdue"]
    assert "Never Events by provider" not in page.tables  # no feed here sends the flag: never shown as zero
    assert "Not supplied by: R1L, RAJ, RDE." in html
    coverage = "Incidents by learning-response coverage"
    exact = figures.providers[["incidents_with_response", "incidents_without_response",
                               "incidents_responses_not_supplied"]].astype("int64")
    exact.columns = ["with a response", "none", "not supplied"]
    shown = suppress_table(exact, rule)
    assert int(figures.providers.loc["R1L", "incidents_responses_not_supplied"]) == 17  # R1L sends none
    for provider in ("RAJ", "R1L", "Total"):
        assert page.tables[coverage][provider] == list(shown.loc[provider])


def _small_counts(cells: list[str]) -> list[str]:
    return [c for c in cells if c.isdigit() and 1 <= int(c) <= 7]


def test_the_report_suppresses_every_shared_count(migrated_engine: Engine, tmp_path: Path) -> None:
    _fill(migrated_engine)

    path = build_system_report(migrated_engine, AS_OF, home=tmp_path)

    assert path == report_path(AS_OF, tmp_path) and path.parent.name == "2026-11-15"
    html = path.read_text(encoding="utf-8")
    parsed = _Cells()
    parsed.feed(html)
    assert parsed.cells and _small_counts(parsed.cells) == []
    assert "*" in parsed.cells  # RDE's three incidents are there, hidden
    assert parsed.svgs >= 6  # trend, harm, candour, learning, actions, inequalities, timeliness
    for title in ("Monthly trend by provider", "Harm profile", "Duty of Candour", "Never Events", "Learning responses",
                  "Safety actions", "Harm and health inequalities", "Reporting timeliness", *OVERSIGHT_SECTIONS):
        assert f"<h2>{title}</h2>" in html
    assert "RAJ Mid And South Essex NHS Foundation Trust" in html
    assert "RYC" not in html  # opted out of data sharing
    assert "free text" not in html.split("<body>")[1].split("Source:")[0]  # no canned text of the rows either
    assert "<td class=\"total\">40</td>" in html  # RAJ's 40 incidents, a multiple of 5, published exactly


OVERSIGHT_SECTIONS = ("LFPSE submission completeness by provider", "Harm-grading disagreements",
                      "Compliance with national requirements")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([CHROMIUM if Path(CHROMIUM).exists() else "chromium", "--headless", "--no-sandbox",
                           "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", *args],
                          check=True, capture_output=True, timeout=120)


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_the_report_renders_in_headless_chromium(migrated_engine: Engine, tmp_path: Path) -> None:
    """The whole page, with the three system-oversight sections (LFPSE completeness, harm-grading
    disagreements, compliance with national requirements), rendered by Chromium: every section drawn, the
    oversight tables equal to their models' figures through suppression, and no count from 1 to 7 anywhere."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"chromium not found at {CHROMIUM}: run scripts/ensure_chromium.sh")
        pytest.skip("chromium is not installed (scripts/ensure_chromium.sh)")
    from reports.suppression import SuppressionRule, suppress_share, suppress_table
    from warehouse.measures import lfpse_completeness_shared

    _fill(migrated_engine, oversight=True)
    path = build_system_report(migrated_engine, AS_OF, home=tmp_path)

    # What Chromium rendered (the DOM after layout): the sections, and no small count in any cell.
    dom = _chromium(tmp_path, "--dump-dom", path.as_uri()).stdout.decode("utf-8")
    cells, page = _Cells(), _Tables()
    cells.feed(dom)
    page.feed(dom)
    assert cells.cells and _small_counts(cells.cells) == []
    for title in OVERSIGHT_SECTIONS:
        assert f"<h2>{title}</h2>" in dom
    assert "RYC" not in dom and "X24" not in dom  # opted out; the national record is the source, not a provider
    rule = SuppressionRule.from_env()
    model = lfpse_completeness_shared(migrated_engine).set_index("provider_ods")
    assert model.loc["RAJ", ["submitted_on_time", "submitted_late", "local_only_past_window", "lfpse_only",
                             "harm_disagreements"]].tolist() == [30, 0, 10, 10, 10]
    assert int(model.loc["R1L", "due_for_submission"]) == 17 and int(model.loc["RQW", "local_only_past_window"]) == 18
    due = "Incidents due for submission to LFPSE, by provider"
    exact = model[["submitted_on_time", "submitted_late", "local_only_past_window"]].astype("int64")
    shown = suppress_table(exact, rule)
    for provider in ("RAJ", "R1L", "RQW", "Total"):
        assert page.tables[due][provider][:4] == list(shown.loc[provider]), provider
    assert page.cell(due, "RAJ", "Completeness") == suppress_share(
        float(model.loc["RAJ", "submission_completeness_pct"]), 30, 40, rule) == "75.0%"
    assert page.cell(due, "RQW", "Completeness") == "0.0%"
    # R1L's count is hidden to protect RDE's three: its share, which would give the count away, is hidden too.
    assert page.cell(due, "R1L", "submitted in time") == "*" and page.cell(due, "R1L", "Completeness") == "*"
    flags = "Disagreements between the local and the national record, by provider"
    assert page.cell(flags, "RAJ", "harm graded differently") == "10"
    compliance = "Incidents meeting a national requirement, by provider and status"
    assert page.cell(compliance, "RQW", "met") == "10" and page.cell(compliance, "RQW", "no response recorded") == "10"
    assert "Patient Safety Incident Response Framework" in dom  # the requirements' source is cited

    # The screenshot: the whole page drawn, down to the last (oversight) sections. Each section heading is
    # underlined by an NHS-blue rule across the page: one per section, so all of them are in the picture.
    png = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,14000", "--hide-scrollbars", path.as_uri())

    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (14000, 1200)
    nhs_blue = (abs(pixels[..., 0] - 0x00 / 255) < 0.02) & (abs(pixels[..., 1] - 0x5E / 255) < 0.02) & (
        abs(pixels[..., 2] - 0xB8 / 255) < 0.02)
    assert nhs_blue.sum() > 5000  # headings and chart bars/lines drawn, not a blank page
    rules = nhs_blue.sum(axis=1) > 900  # a heading's rule spans the content width
    starts = int(rules[0]) + int((rules[1:] & ~rules[:-1]).sum())
    assert starts == dom.count("<h2>") == 11, starts


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_psirf_report_system_writes_the_report(migrated_engine: Engine, warehouse_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from psirf.cli_analytics import analytics_app

    _fill(migrated_engine)
    migrated_engine.dispose()
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path))
    runner = CliRunner()

    result = runner.invoke(analytics_app, ["report", "--system", "--as-of", "2026-11-15"])

    assert result.exit_code == 0, result.output
    assert report_path(AS_OF, tmp_path).exists()
    assert runner.invoke(analytics_app, ["report"]).exit_code == 2


def _load_dag() -> object:
    spec = importlib.util.spec_from_file_location("psirf_system_report_dag", ROOT / "dags" / "psirf_system_report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dag_runs_on_the_marts_asset_and_parses_without_work() -> None:
    module = _load_dag()
    dag = module.system_report_dag  # type: ignore[attr-defined]
    assert dag.dag_id == "psirf_system_report" and {"psirf", "report"} <= set(dag.tags)
    assert dag.catchup is False and dag.start_date.tzinfo is not None and dag.doc_md
    assert [(a.name, a.uri) for a in dag.timetable.asset_condition.objects] == [("psirf_marts", "x-psirf://warehouse/marts")]
    assert dag.task_ids == ["build_report"]
    task = dag.get_task("build_report")
    assert task.retries >= 1 and task.retry_exponential_backoff

    code = (f"import sys, importlib.util\nspec = importlib.util.spec_from_file_location('d', "
            f"{str(ROOT / 'dags' / 'psirf_system_report.py')!r})\nm = importlib.util.module_from_spec(spec); "
            "spec.loader.exec_module(m)\nprint(','.join(n for n in ('pandas', 'matplotlib', 'duckdb', 'psycopg', "
            "'reports.system_report') if n in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == ""
