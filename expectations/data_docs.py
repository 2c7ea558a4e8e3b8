"""Great Expectations Data Docs for engineers, built under ``$PSIRF_HOME/gx/data_docs``.

The site shows every suite of the three layers (``raw.*``, ``canonical.*``, ``warehouse.*``) and the validation
results of the last runs (:mod:`expectations.run_results` keeps each run's results on disk, since the tasks that
validate run in other processes): a pass/fail page per suite and batch, and ``runs/<run>.html`` listing one run's
pages (each provider's feedback report links to it). The pages render offline: GX's links to CDNs (Bootstrap,
Font Awesome, jQuery, Vega) are removed and a small stylesheet is inlined instead.
Providers get the feedback report instead: Data Docs speak to engineers, the report to the people who fix data.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from expectations import canonical_suites, raw_suites, warehouse_suites
from expectations.canonical_suites import context
from expectations.gx_runner import suite_for
from expectations.run_results import load_runs, run_slug
from psirf import settings

SITE = "psirf"


def docs_dir(home: Path | None = None) -> Path:
    return (home or settings.psirf_home()) / "gx" / "data_docs"


def _ensure_site(path: Path) -> None:
    ctx = context()
    config = {"class_name": "SiteBuilder",
              "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(path)},
              "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}
    sites = ctx.get_config().data_docs_sites or {}
    if SITE in sites and sites[SITE]["store_backend"]["base_directory"] == str(path):
        return
    if SITE in sites:
        ctx.delete_data_docs_site(SITE)
    ctx.add_data_docs_site(site_name=SITE, site_config=config)


def _register_suites() -> None:
    """Make sure every layer's suite is in the context, so the site documents them even before they ran here."""
    names = set(context().suites.all() and [s.name for s in context().suites.all()])
    for entity in ("incidents", "safety_actions"):
        if f"raw.{entity}" not in names:
            suite_for(f"raw.{entity}", raw_suites.raw_expectations([], None))
    for table in canonical_suites.SUITES:
        if f"canonical.{table}" not in names:
            canonical_suites.build_suite(table)
    for table in warehouse_suites.QUERIES:
        if f"warehouse.{table}" not in names:
            suite_for(f"warehouse.{table}", warehouse_suites.expectations(table))


def build_data_docs(home: Path | None = None, runs: int = 5) -> Path:
    """Build (or refresh) the site with the last ``runs`` runs' results; returns its index page. Serialised with a
    file lock (tasks may run at once)."""
    path = docs_dir(home)
    path.mkdir(parents=True, exist_ok=True)
    with (path.parent / ".data_docs.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _ensure_site(path)
        _register_suites()
        kept = _restore_results(runs, home)
        context().build_data_docs(site_names=[SITE])
        _run_pages(path, kept)
        make_offline(path)
    return path / "index.html"


def run_page(run_id: str, home: Path | None = None) -> Path:
    """The page listing one run's validation results."""
    return docs_dir(home) / "runs" / f"{run_slug(run_id)}.html"


def _restore_results(runs: int, home: Path | None) -> list[tuple[str, list[tuple[str, str, bool]]]]:
    """Put the last runs' results into the context's validation store; returns per run (suite, page, success)."""
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    store = context().validation_results_store
    kept = []
    for run_id, payloads in load_runs(runs, home):
        run_time = _run_time(payloads)
        pages = []
        for i, payload in enumerate(payloads):
            suite, batch = str(payload["suite"]), f"{payload['batch']}-{i:04d}"
            result = ExpectationSuiteValidationResult(**payload["result"])
            key = ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite),
                                             run_id=RunIdentifier(run_name=run_id, run_time=run_time),
                                             batch_identifier=batch)
            store.set(key, result)
            page = "/".join(["validations", *suite.split("."), key.run_id.to_tuple()[0],
                             key.run_id.to_tuple()[1], f"{batch}.html"])
            pages.append((suite, page, bool(payload["result"].get("success"))))
        kept.append((run_id, pages))
    return kept


def _run_time(payloads: list[dict[str, Any]]) -> dt.datetime:
    for payload in payloads:
        stamp = (payload["result"].get("meta") or {}).get("validation_time")
        if stamp:
            try:
                return dt.datetime.strptime(str(stamp), "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=dt.UTC)
            except ValueError:
                pass
    return dt.datetime.now(dt.UTC)


def _run_pages(path: Path, kept: list[tuple[str, list[tuple[str, str, bool]]]]) -> None:
    folder = path / "runs"
    folder.mkdir(exist_ok=True)
    for run_id, pages in kept:
        failed = sum(1 for _, _, ok in pages if not ok)
        rows = "\n".join(
            f'<tr><td>{html.escape(suite)}</td><td class="{"ok" if ok else "bad"}">{"passed" if ok else "FAILED"}'
            f'</td><td><a href="../{html.escape(quote(page))}">{html.escape(page.rsplit("/", 1)[-1])}</a></td></tr>'
            for suite, page, ok in sorted(pages))
        (folder / f"{run_slug(run_id)}.html").write_text(
            f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Validation results: "
            f"{html.escape(run_id)}</title></head><body><h1>Validation results of run {html.escape(run_id)}</h1>"
            f"<p>{len(pages)} validation(s), {failed} with a failed expectation. "
            f'<a href="../index.html">All suites and runs</a></p>'
            f"<table><tr><th>Suite</th><th>Result</th><th>Page</th></tr>{rows}</table></body></html>",
            encoding="utf-8")


OFFLINE_CSS = """
body { font-family: Arial, Helvetica, sans-serif; color: #212b32; margin: 0 24px 24px; font-size: 14px; }
a { color: #005eb8; } h1, h2, h3, h4, h5 { color: #005eb8; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
th, td { border: 1px solid #d8dde0; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f0f4f5; }
.container-fluid, .row { display: flex; flex-wrap: wrap; gap: 16px; width: 100%; }
.col-md-2, .col-md-10, .col-12, [class*="col-"] { flex: 1 1 auto; min-width: 0; }
.col-md-2 { flex: 0 0 220px; }
.card { border: 1px solid #d8dde0; border-radius: 4px; margin: 8px 0; padding: 8px; }
.card-header { background: #f0f4f5; padding: 6px 8px; font-weight: bold; }
.badge { display: inline-block; padding: 2px 6px; border-radius: 3px; background: #768692; color: #fff; }
.badge-success, .text-success, .ok { color: #007f3b; } .badge-success { background: #007f3b; color: #fff; }
.badge-danger, .text-danger, .bad { color: #d5281b; } .badge-danger { background: #d5281b; color: #fff; }
.fas, .far, .fa { display: none; } .sr-only, .d-none { display: none; }
nav, .navbar { background: #005eb8; color: #fff; padding: 8px 16px; margin: 0 -24px 16px; }
nav a, .navbar a { color: #fff; } img { max-width: 240px; }
ul.nav, .list-group { list-style: none; padding-left: 0; }
"""
_REMOTE_TAG = re.compile(r'<link[^>]+href="https?://[^"]*"[^>]*>|<script[^>]+src="https?://[^"]*"[^>]*>\s*</script>'
                         r'|<img[^>]+src="https?://[^"]*"[^>]*>', re.IGNORECASE)


def make_offline(path: Path) -> int:
    """Remove every stylesheet, script and image the pages load from the network, and inline a stylesheet, so the
    site renders offline (and in a browser that may not reach the internet). Returns the pages changed."""
    changed = 0
    for page in path.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = _REMOTE_TAG.sub("", text)
        if "psirf-offline-css" not in cleaned:
            style = f'<style id="psirf-offline-css">{OFFLINE_CSS}</style>'
            cleaned = cleaned.replace("</head>", style + "</head>", 1) if "</head>" in cleaned else style + cleaned
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")
            changed += 1
    return changed
