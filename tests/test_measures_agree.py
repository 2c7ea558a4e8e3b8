"""On the demo estate, every output reads the same figures: the Duty of Candour, timeliness and overdue actions
of a provider are equal in the oversight model, the provider's feedback report, the system report and
`psirf quality scores`, and a moderate-or-worse incident whose source said "No" counts as not recorded."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from psirf.pipeline import run_provider
from psirf.registry import load_registry
from reports.suppression import SuppressionRule, suppress_share, suppress_table
from warehouse.marts import refresh
from warehouse.measures import last_complete_month, provider_measures, safety_actions_today
from warehouse.reference import seed_organisations

PROVIDERS = ["RAJ", "R1L", "RDE", "RQW", "RYC", "QH8", "X24"]


@pytest.mark.slow
def test_every_output_shows_the_models_figures(demo_estate: Any, warehouse_url: str, migrated_engine: sa.Engine,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from psirf.cli import app
    from reports.provider_feedback import deliver_for_run
    from reports.system_report import build_system_report

    home, _, _ = demo_estate
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    engine = migrated_engine
    seed_organisations(engine, load_registry(home=home))
    for ods in PROVIDERS:
        run_provider(ods, run_id="test-run", engine=engine)
    refresh(engine)  # with every dbt test, on the demo data
    _every_planted_lfpse_difference_is_found(engine, demo_estate[1])

    today = dt.date.today()
    model = provider_measures(engine, last_complete_month(today)).set_index("provider_ods")
    actions = safety_actions_today(engine).set_index("provider_ods")
    with engine.connect() as conn:
        said_no = conn.execute(sa.text(
            "SELECT f.duty_of_candour_status, COUNT(*) FROM marts.fct_incident f "
            "WHERE f.is_moderate_or_worse AND f.duty_of_candour_recorded = false GROUP BY 1")).all()
    assert said_no and [s for s, _ in said_no] == ["not_recorded"]  # "No" on moderate+ harm: a finding

    ods = str(model["candour_not_recorded"].idxmax())  # the provider with the most to show
    raj = model.loc[ods]
    assert raj["moderate_or_worse"] > 0 and raj["candour_not_recorded"] > 0 and actions.loc[ods, "overdue"] > 0

    # The provider's feedback report (HTML and its e-mail summary).
    delivered = deliver_for_run(ods, "test-run")
    html = next(Path(delivered["outbox"]).glob("data_quality_*.html")).read_text(encoding="utf-8")
    summary = next(Path(delivered["outbox"]).glob("summary_*.txt")).read_text(encoding="utf-8")

    def figure(label: str) -> str:
        found = re.search(rf"<td>{re.escape(label)}</td><td class=\"num\">([^<]*)</td>", html)
        assert found, label
        return found.group(1)

    assert figure("Duty of Candour not recorded") == str(raj["candour_not_recorded"])
    assert figure("Duty of Candour recorded") == f"{float(raj['share_candour_recorded']):.1f}%"
    assert figure("Median days to report") == f"{float(raj['median_days_to_report']):.1f}"
    assert figure(f"Reported within {raj['reporting_target_days']} days") == \
        f"{float(raj['share_within_target_days']):.1f}%"
    assert f"<b>{actions.loc[ods, 'overdue']} overdue</b>" in html
    # Its worklist: the reconciliation and compliance models' rows of this provider (the planted differences).
    with engine.connect() as conn:
        own = {k: conn.execute(sa.text(q), {"p": ods}).scalar() for k, q in {
            "submit": "SELECT COUNT(*) FROM oversight.oversight_lfpse_reconciliation WHERE provider_ods = :p "
                      "AND reconciliation_status = 'local_only_past_window'",
            "review": "SELECT COUNT(*) FROM oversight.oversight_lfpse_reconciliation WHERE provider_ods = :p "
                      "AND reconciliation_status = 'matched' AND (harm_disagreement OR governance_disagreement)",
            "overdue": "SELECT COUNT(*) FROM oversight.oversight_psirp_compliance WHERE provider_ods = :p "
                       "AND compliance_status = 'overdue'"}.items()}
    assert f"Records to submit to LFPSE ({own['submit']})" in html
    assert f"Harm gradings to review ({own['review']})" in html and f"Responses overdue ({own['overdue']})" in html
    assert f"Your worklist: {own['submit']} record(s) to submit to LFPSE" in summary
    assert f"Duty of Candour not recorded on {raj['candour_not_recorded']}" in summary

    # The peer benchmark (fct_dq_peer_benchmark) is the median and IQR of each provider's latest score, and the
    # report shows the model's figures.
    from warehouse.measures import dimension_scores, peer_benchmark

    bench = peer_benchmark(engine).set_index("dimension")
    latest = {}
    for code in PROVIDERS:
        scores = dimension_scores(engine, code, 1).dropna(subset=["score"])
        for row in scores.itertuples():
            latest.setdefault(row.dimension, []).append(float(row.score))
    import statistics

    for dimension, values in latest.items():
        assert bench.loc[dimension, "providers"] == len(values)
        assert abs(float(bench.loc[dimension, "median_score"]) - statistics.median(values)) < 0.01, dimension
    assert 'id="benchmark-table"' in html
    first = bench.index[0]
    assert f"<td>{first}</td>" in html.split('id="benchmark-table"', 1)[1]
    assert f"{float(bench.loc[first, 'median_score']):.1f}" in html.split('id="benchmark-table"', 1)[1]

    # `psirf quality scores`.
    scores = CliRunner().invoke(app, ["quality", "scores", "--provider", ods, "--json"])
    assert scores.exit_code == 0, scores.output
    cli = json.loads(scores.output)
    assert cli["measures"]["candour_not_recorded"] == raj["candour_not_recorded"]
    assert float(cli["measures"]["share_candour_recorded"]) == float(raj["share_candour_recorded"])
    assert float(cli["measures"]["median_days_to_report"]) == float(raj["median_days_to_report"])
    assert float(cli["measures"]["share_within_target_days"]) == float(raj["share_within_target_days"])
    assert cli["safety_actions_today"]["overdue"] == actions.loc[ods, "overdue"]
    # Its scores are the feedback report's tiles: the one data-quality score model.
    latest = max(cli["scores"], key=lambda s: s["loaded_at"])
    assert f"timeliness<b>{latest['timeliness']:.1f}</b>" in html.replace("\n", "")

    # The system report, through small-number suppression.
    rule = SuppressionRule.from_env()
    report = build_system_report(engine, today, home=home).read_text(encoding="utf-8")
    row = re.search(rf"<th>{ods}</th>(.*?)</tr>", report.split("Moderate or worse harm by Duty of Candour")[1], re.S)
    assert row
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
    recorded = suppress_share(raj["share_candour_recorded"], int(raj["candour_notified"] + raj[
        "candour_not_yet_notified"]), int(raj["moderate_or_worse"]), rule)
    exact = model[["candour_notified", "candour_not_yet_notified", "candour_not_recorded"]].astype("int64")
    exact.columns = ["notified", "not yet notified", "not recorded or No"]
    assert cells == [*suppress_table(exact, rule).loc[ods], recorded]


def _every_planted_lfpse_difference_is_found(engine: sa.Engine, manifest: dict[str, Any]) -> None:
    """The trusts' LFPSE national export (demo.lfpse_national): each planted difference is found, at its
    planted count and on the planted records, and nothing else is flagged."""
    planted = manifest["providers"]["X24"]["lfpse_national"]
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT * FROM oversight.oversight_lfpse_reconciliation"))]
    found = {
        "not_submitted": {r["local_record_id"] for r in rows if r["reconciliation_status"] == "local_only_past_window"},
        "awaiting_submission": {r["local_record_id"] for r in rows
                                if r["reconciliation_status"] == "local_only_within_window"},
        "submitted_late": {r["local_record_id"] for r in rows if r["is_submitted_late"]},
        "lfpse_only": {r["lfpse_record_id"] for r in rows if r["reconciliation_status"] == "lfpse_only"},
        "harm_disagreement": {r["local_record_id"] for r in rows if r["harm_disagreement"]},
        "never_event_disagreement": {r["local_record_id"] for r in rows if r["never_event_disagreement"]},
        "matched_by_score": {r["local_record_id"] for r in rows if r["match_method"] == "score"},
    }
    expected = {kind: {p["record_id"] for p in records} for kind, records in planted["planted_records"].items()}
    assert found == expected
    assert {k: len(v) for k, v in found.items()} == planted["planted"]
    assert not any(r["duty_of_candour_disagreement"] for r in rows)
    assert sum(r["reconciliation_status"] == "matched" for r in rows) == planted["local_incidents"] - 5
