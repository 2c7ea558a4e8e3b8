"""Provider feedback reports after a real load of the demo feeds, on DuckDB and on PostgreSQL.

Every planted defect is reported under its rule with the exact count, the report's totals are the ledger's, each
provider's report holds only its own rows, and the results history agrees with the warehouse.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from psirf.pipeline import run_provider
from psirf.registry import load_registry
from reports.provider_feedback import SHEET_HEADERS, deliver_for_run
from tests.identifiers import POSTCODE, nhs_numbers_in
from warehouse.reference import seed_organisations

PROVIDERS = ["RAJ", "R1L", "RDE", "RQW", "RYC", "QH8"]
DATIX_STYLE = ["RAJ", "R1L", "RDE", "RQW", "RYC"]  # CSV, REST, Excel, CSV, CSV: the same planted defects
MARKER_LABEL = "ZZ harm label only RQW uses"
MARKER_ID = "990001"


def _add_marker_row(path: Path) -> None:
    """Append a copy of a valid RQW row with its own id and a harm label no profile knows (one code.unknown)."""
    with path.open(encoding="cp1252", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    ids = [r[header.index("Datix ID")] for r in body]
    valid = next(r for r in body if ids.count(r[header.index("Datix ID")]) == 2)  # exact duplicates are valid rows
    marker = list(valid)
    marker[header.index("Datix ID")] = MARKER_ID
    marker[header.index("Actual Harm")] = MARKER_LABEL
    with path.open("a", encoding="cp1252", newline="") as fh:
        csv.writer(fh, lineterminator="\r\n").writerow(marker)


@pytest.fixture
def delivered(demo_estate, warehouse_url, migrated_engine, monkeypatch):
    home, manifest, _ = demo_estate
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    monkeypatch.delenv("PSIRF_SMTP_URL", raising=False)
    rqw = manifest["providers"]["RQW"]["files"]["incidents"]
    _add_marker_row(home / rqw["path"])
    rqw["rows_in"] += 1
    rqw["expected_quarantined"] += 1
    rqw["quarantined_by_rule"]["code.unknown"] = rqw["quarantined_by_rule"].get("code.unknown", 0) + 1
    seed_organisations(migrated_engine, load_registry(home=home))
    for ods in PROVIDERS:
        run_provider(ods, run_id="run-1", engine=migrated_engine)
    reports = {ods: deliver_for_run(ods, "run-1") for ods in PROVIDERS}
    return home, manifest, migrated_engine, reports


def _ledger(engine, ods):
    with engine.connect() as conn:
        return pd.read_sql(sa.text("SELECT * FROM batch_ledger WHERE provider_ods = :p"), conn, params={"p": ods})


def _files(result):
    out = Path(result["outbox"])
    return {kind: next(out.glob(pattern)) for kind, pattern in
            (("html", "*.html"), ("summary", "*.txt"), ("csv", "*.csv"), ("xlsx", "*.xlsx"))}


def test_feedback_after_a_demo_load(delivered):
    """One load of every demo provider (it takes a while), then three groups of checks on what it produced."""
    _reports_count_every_planted_defect_and_match_the_ledger(*delivered)
    _history_in_the_warehouse_agrees_with_the_loaded_rows(*delivered)
    _each_report_holds_only_its_own_provider_and_no_identifiers(*delivered)


def _reports_count_every_planted_defect_and_match_the_ledger(home, manifest, engine, reports):
    for ods in PROVIDERS:
        files = _files(reports[ods])
        ledger = _ledger(engine, ods)
        rows = pd.read_csv(files["csv"], encoding="utf-8-sig", dtype=str)
        assert list(rows.columns) == list(SHEET_HEADERS.values())
        for entity, expected in (manifest["providers"][ods]["files"].items() if ods in DATIX_STYLE else []):
            mine = rows[rows["Entity"] == entity]
            by_rule = mine.groupby("Rule")["Row"].nunique().to_dict()
            assert by_rule == expected.get("quarantined_by_rule", {}), (ods, entity)
            [batch] = ledger[ledger["entity"] == entity].itertuples()
            assert mine["Row"].nunique() == batch.quarantined == expected["expected_quarantined"], (ods, entity)
            assert mine.empty or (mine["How to fix"].notna().all() and mine["Record id"].notna().any())
        totals = {k: int(ledger[k].sum()) for k in ("rows_in", "loaded", "quarantined", "duplicates")}
        summary = files["summary"].read_text(encoding="utf-8")
        assert (f"Totals: {totals['rows_in']} rows in, {totals['loaded']} loaded, {totals['quarantined']} held back, "
                f"{totals['duplicates']} duplicates.") in summary
        book = load_workbook(files["xlsx"], read_only=True)
        held = list(book["Held back rows"].iter_rows(values_only=True))
        assert list(held[0]) == list(SHEET_HEADERS.values()) and len(held) - 1 == len(rows)
        summary_rows = [r for r in book["Summary"].iter_rows(min_row=5, values_only=True) if r and r[0]]
        assert sorted((r[0], r[1], r[3], r[4], r[5], r[6]) for r in summary_rows) == sorted(
            (Path(b.source_file).name, b.entity, b.rows_in, b.loaded, b.quarantined, b.duplicates)
            for b in ledger.itertuples())
        html = files["html"].read_text(encoding="utf-8")
        assert html.count("<svg") >= 2 and "<script" not in html.lower() and "http://" not in html.split("<svg")[0]


def _history_in_the_warehouse_agrees_with_the_loaded_rows(home, manifest, engine, reports):
    with engine.connect() as conn:
        results = pd.read_sql(sa.text("SELECT * FROM dq_rule_result"), conn)
        scores = pd.read_sql(sa.text("SELECT * FROM dq_dimension_score"), conn)
        ledger = pd.read_sql(sa.text("SELECT * FROM batch_ledger"), conn)
        candour = dict(conn.execute(sa.text(
            "SELECT batch_id, COUNT(*) FROM incident WHERE physical_harm_code IN ('1', '2', '3') "
            "AND (duty_of_candour IS NULL OR NOT duty_of_candour) GROUP BY batch_id")).all())
        late = dict(conn.execute(sa.text(
            "SELECT batch_id, COUNT(*) FROM incident WHERE reported_date - occurred_date > 5 GROUP BY batch_id")).all())
    for batch in ledger[ledger["provider_ods"].isin(DATIX_STYLE)].itertuples():
        expected = manifest["providers"][batch.provider_ods]["files"][batch.entity]
        mine = results[results["batch_id"] == batch.batch_id]
        errors = mine[(mine["layer"] == "canonical") & (mine["severity"] == "error") & (mine["rows_failed"] > 0)]
        assert errors.groupby("rule_id")["rows_failed"].sum().to_dict() == expected.get("quarantined_by_rule", {})
        assert (mine[mine["layer"] == "raw"]["rows_failed"] == 0).all()
        if batch.entity in ("incidents", "safety_actions"):
            assert set(scores[scores["batch_id"] == batch.batch_id]["dimension"]) == {
                "completeness", "validity", "consistency", "timeliness", "uniqueness"}
        if batch.entity == "incidents":
            warned = mine.set_index("rule_id")["rows_failed"]
            assert warned["candour.not_recorded"] == candour.get(batch.batch_id, 0)
            assert warned["timeliness.reported_late"] == late.get(batch.batch_id, 0)
    assert scores["score"].between(0, 100).all()
    warehouse = results[results["layer"] == "warehouse"]
    assert set(warehouse["provider_ods"]) == set(PROVIDERS) and warehouse["rows_failed"].sum() == 0
    assert (Path(reports["RAJ"]["outbox"]).parents[3] / "gx" / "data_docs" / "index.html").is_file()
    assert Path(reports["RAJ"]["index"]).is_file()  # outbox/RAJ/index.html lists the run's report


def _each_report_holds_only_its_own_provider_and_no_identifiers(home, manifest, engine, reports):
    for ods in PROVIDERS:
        files = _files(reports[ods])
        texts = {k: files[k].read_text(encoding="utf-8-sig") for k in ("html", "summary", "csv")}
        book = load_workbook(files["xlsx"], read_only=True)
        texts["xlsx"] = "\n".join(str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row)
        if ods == "RQW":
            assert all(MARKER_LABEL in texts[k] and MARKER_ID in texts[k] for k in ("html", "csv", "xlsx"))
        else:
            assert not any(MARKER_LABEL in t or MARKER_ID in t for t in texts.values()), ods
        for kind, text in texts.items():
            assert not nhs_numbers_in(text), (ods, kind)
            assert not POSTCODE.search(text.split("</style>")[-1]), (ods, kind)
        assert f"({ods})" in texts["html"] and all(f"({o})" not in texts["html"] for o in PROVIDERS if o != ods)
