"""Great Expectations Data Docs for engineers, built under ``$PSIRF_HOME/gx/data_docs``.

The site shows every suite of the three layers (``raw.*``, ``canonical.*``, ``warehouse.*``) and the validation
results kept in this process's GX context (the warehouse suites run through a checkpoint for exactly this).
Providers get the feedback report instead: Data Docs speak to engineers, the report to the people who fix data.
"""

from __future__ import annotations

import datetime as dt
import fcntl
from pathlib import Path

from expectations import canonical_suites, raw_suites, warehouse_suites
from expectations.canonical_suites import context
from expectations.gx_runner import suite_for
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
            canonical_suites.build_suite(table, dt.datetime(2100, 1, 1))
    for table in warehouse_suites.QUERIES:
        if f"warehouse.{table}" not in names:
            suite_for(f"warehouse.{table}", warehouse_suites.expectations(table))


def build_data_docs(home: Path | None = None) -> Path:
    """Build (or refresh) the site; returns its index page. Serialised with a file lock (tasks may run at once)."""
    path = docs_dir(home)
    path.mkdir(parents=True, exist_ok=True)
    with (path.parent / ".data_docs.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _ensure_site(path)
        _register_suites()
        context().build_data_docs(site_names=[SITE])
    return path / "index.html"
