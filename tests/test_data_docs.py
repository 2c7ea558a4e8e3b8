"""Data Docs show each run's validation results (a pass/fail page per suite and batch, and a page per run) and
render offline: no stylesheet, script or image is loaded from the network."""

from __future__ import annotations

import re

import pandas as pd

from expectations import gx_runner
from expectations.data_docs import build_data_docs, run_page
from expectations.raw_suites import raw_expectations


def test_validation_results_of_a_run_appear_in_data_docs_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path))
    monkeypatch.setenv("PSIRF_RUN_ID", "manual__2026-12-03T09:00:00+00:00")
    monkeypatch.delenv("AIRFLOW_CTX_DAG_RUN_ID", raising=False)
    frame = pd.DataFrame({"Datix ID": ["1", "2"], "provider_ods": ["RAJ", "RAJ"], "batch_id": ["b-1", "b-1"]})
    gx_runner.validate("raw.incidents", raw_expectations(["Datix ID", "Actual Harm"], None), frame)
    kept = list((tmp_path / "gx" / "validations").rglob("*.json"))
    assert len(kept) == 1 and "RAJ_b-1" in kept[0].name

    index = build_data_docs()

    page = run_page("manual__2026-12-03T09:00:00+00:00")
    listing = page.read_text(encoding="utf-8")
    assert "raw.incidents" in listing and "FAILED" in listing  # a required column is missing
    [link] = re.findall(r'href="\.\./(validations/[^"]+)"', listing)
    from urllib.parse import unquote

    result_page = index.parent / unquote(link)
    assert result_page.is_file() and "Actual Harm" in result_page.read_text(encoding="utf-8")
    for html in index.parent.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:link|script|img)[^>]+(?:href|src)="https?://', text)
        assert not remote, (html, remote[:3])
        assert "psirf-offline-css" in text
