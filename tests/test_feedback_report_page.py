"""The provider feedback page as a provider sees it, without a warehouse: a report built from known figures shows
the peer benchmark, the dated trend (one point per load), warnings summarised per rule and a rejected file apart
from the scores; two runs on one day keep two reports and an index; and it renders in headless Chromium at
1400 px and prints to PDF.

Chromium: skipped locally when missing, a failure under CI (``CI=true``), as in test_feedback_report_check.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pandas as pd

from reports.provider_feedback import Feedback, outbox_dir, write_index, write_report
from tests.test_feedback_report_check import _chromium

DIMS = ["completeness", "validity", "consistency", "timeliness", "uniqueness"]


def _feedback(run_id: str, rejected: bool = True) -> Feedback:
    batches = pd.DataFrame([
        {"batch_id": "b1", "entity": "incidents", "source_file": "/x/incidents_20261201.csv", "status": "loaded",
         "rows_in": 120, "loaded": 100, "quarantined": 20, "duplicates": 0, "message": None},
        {"batch_id": "b2", "entity": "safety_actions", "source_file": "/x/actions_empty.csv",
         "status": "rejected" if rejected else "loaded", "rows_in": 0, "loaded": 0, "quarantined": 0,
         "duplicates": 0, "message": "the file is empty (no rows after the header)" if rejected else None},
    ])
    loads = pd.to_datetime(["2026-11-28 01:30", "2026-11-29 01:31", "2026-11-30 01:29", "2026-12-01 01:30"])
    trend = pd.DataFrame([{"load_id": f"run-{i}", "loaded_at": at, "dimension": d, "score": 80.0 + i * 3 + j}
                          for i, at in enumerate(loads) for j, d in enumerate(DIMS)])
    warnings = pd.DataFrame([{"source_file": "incidents_20261201.csv", "entity": "incidents",
                              "source_row_number": row, "source_record_id": f"D{row}", "field": "reported_date",
                              "rule_id": "timeliness.reported_late", "found": "12 days", "expected": "within 5 days"}
                             for row in range(2, 40)])
    results = pd.DataFrame([{"layer": "canonical", "suite": "canonical.incident", "rule_id": "timeliness.reported_late",
                             "field": "reported_date", "dimension": "timeliness", "severity": "warning",
                             "scope": "row", "rows_evaluated": 100, "rows_failed": 38}])
    held = pd.DataFrame([{"source_file": "incidents_20261201.csv", "entity": "incidents", "source_row_number": r,
                          "source_record_id": f"D{r}", "field": "occurred_date", "rule_id": "date.invalid",
                          "found": "31/02/2026", "expected": "dd/mm/yyyy"} for r in range(50, 70)])
    fb = Feedback(provider_ods="RAJ", provider_name="Mid and South Essex", load_date="2026-12-01", mode="load",
                  run_id=run_id, batches=batches, results=results, quarantined=held, warnings=warnings, trend=trend)
    fb.scores = {d: 89.0 + j for j, d in enumerate(DIMS)}
    fb.benchmark = pd.DataFrame([{"dimension": d, "providers": 6, "min_peers": 3, "p25_score": 85.0,
                                  "median_score": 90.0, "p75_score": 93.0, "latest_load_at": loads[-1]}
                                 for d in DIMS])
    return fb


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_two_runs_on_one_day_keep_two_reports_and_an_index(tmp_path, monkeypatch):
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path))
    first = write_report(_feedback("scheduled__2026-12-01T01:30:00+00:00"),
                         outbox_dir("RAJ", "2026-12-01", "scheduled__2026-12-01T01:30:00+00:00"))
    second = write_report(_feedback("manual__2026-12-01T09:12:00+00:00", rejected=False),
                          outbox_dir("RAJ", "2026-12-01", "manual__2026-12-01T09:12:00+00:00"))
    assert first["html"] != second["html"]
    index = write_index("RAJ")
    assert index == tmp_path / "outbox" / "RAJ" / "index.html"
    text = index.read_text(encoding="utf-8")
    assert text.count("<a href=") == 6  # page, Excel and CSV of each report
    for files in (first, second):
        link = re.escape(str(files["html"]).split("/outbox/RAJ/")[1])
        assert re.search(link, text)
    assert text.index("manual__") < text.index("scheduled__")  # newest first


def test_the_page_shows_benchmark_trend_warnings_and_rejection_and_renders(tmp_path, monkeypatch):
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path))
    files = write_report(_feedback("run-3"), tmp_path / "out")
    html = Path(files["html"]).read_text(encoding="utf-8")
    assert 'id="benchmark-table"' in html and "fct_dq_peer_benchmark" in html
    assert "85.0 &ndash; 93.0" in html and "within the middle half" in html
    for stamp in ("28 Nov 2026 01:30", "29 Nov 2026 01:31", "30 Nov 2026 01:29", "01 Dec 2026 01:30"):
        assert stamp in html  # real load dates, one point per load
    assert "28 Nov 01:30" in html  # the chart's x labels are the load dates too
    # 38 warnings of one rule: a count, a share, five examples (not 38 rows)
    assert "timeliness.reported_late: 38 row(s), 38.0% of 100 checked" in html
    assert html.count("12 days") == 5 and "33 more row(s)" in html
    assert 'id="rejected-files"' in html and "the file is empty" in html
    assert "<script" not in html.lower() and "http://" not in html.split("<svg")[0]

    chromium = _chromium()
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    png, pdf = tmp_path / "page.png", tmp_path / "page.pdf"
    uri = "file://" + files["html"]
    subprocess.run([*common, f"--screenshot={png}", "--window-size=1400,2400", "--hide-scrollbars", uri],
                   check=True, capture_output=True, timeout=120)
    data = png.read_bytes()
    assert _png_size(data) == (1400, 2400) and len(data) > 60_000
    subprocess.run([*common, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", uri], check=True,
                   capture_output=True, timeout=120)
    document = pdf.read_bytes()
    assert document[:5] == b"%PDF-"
    pages = len(re.findall(rb"/Type\s*/Page[^s]", document))
    assert 2 <= pages <= 12, pages  # printable: a few A4 pages, not one endless strip


def test_the_run_summary_names_each_rejection():
    """``deliver_for_run`` returns the rejected files with their problem (the summary task names them)."""
    from psirf.airflow_tasks import failure_reasons

    feedback = [{"provider_ods": "RQW", "rejections": [{"file": "incidents_20261101.csv",
                                                         "problem": "required column Actual Harm is missing"}]}]
    lines = failure_reasons(["RQW", "RAJ"], feedback)
    assert lines[0] == "RQW: incidents_20261101.csv rejected: required column Actual Harm is missing"
    assert lines[1].startswith("RAJ: failed before its files were loaded")
