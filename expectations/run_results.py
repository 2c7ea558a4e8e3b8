"""Each run's GX validation results, kept on disk so that Data Docs can show them (per run, per suite, pass/fail).

The GX context is ephemeral and per process: the tasks that validate (``transform_validate``, ``feedback``) and
the one that builds Data Docs run in different processes. So every validation made inside a run (an Airflow run:
``AIRFLOW_CTX_DAG_RUN_ID``; a ``psirf run``: ``PSIRF_RUN_ID``) is written to
``$PSIRF_HOME/gx/validations/<run>/<suite>.<batch>.<n>.json``, and :func:`expectations.data_docs.build_data_docs`
puts the last runs' results back into the context's store before it renders the site. A ``psirf check`` (no run)
records nothing.

Only counts are kept: the lists of unexpected values (which could hold what a provider sent, identifiers
included) are dropped before writing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

from psirf import settings

log = logging.getLogger(__name__)

RUN_ENV = ("AIRFLOW_CTX_DAG_RUN_ID", "PSIRF_RUN_ID")
KEPT_RESULT_KEYS = ("element_count", "unexpected_count", "unexpected_percent", "missing_count", "missing_percent",
                    "unexpected_percent_nonmissing", "observed_value")


def current_run() -> str | None:
    for name in RUN_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return None


def run_slug(run_id: str) -> str:
    """A run id as a folder name: safe characters only, and a short hash so two ids never share a folder."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip("-.")[:80] or "run"
    return f"{safe}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def results_dir(home: Path | None = None) -> Path:
    return (home or settings.psirf_home()) / "gx" / "validations"


def _redacted(result: dict[str, Any]) -> dict[str, Any]:
    out = dict(result)
    out["results"] = []
    for outcome in result.get("results", []):
        outcome = dict(outcome)
        details = outcome.get("result") or {}
        # counts, and shares to two decimals: a long float's digits could read as an NHS number to a scan
        outcome["result"] = {k: round(details[k], 2) if isinstance(details[k], float) else details[k]
                             for k in KEPT_RESULT_KEYS if k in details and not isinstance(details[k], list | dict)}
        outcome["exception_info"] = {"raised_exception": bool((outcome.get("exception_info") or {})
                                                             .get("raised_exception"))}
        out["results"].append(outcome)
    meta = dict(out.get("meta") or {})
    meta.pop("batch_spec", None)
    meta.pop("batch_markers", None)  # a fingerprint of the data and a load time: nothing Data Docs shows
    out["meta"] = meta
    return out


def record(suite: str, result: Any, frame: Any = None, batch: str | None = None) -> Path | None:
    """Write one validation result of the current run (no-op outside a run; never fails the validation). The
    batch is named by ``batch``, or by the frame's provider and batch id columns."""
    run_id = current_run()
    if run_id is None:
        return None
    try:
        batch = re.sub(r"[^A-Za-z0-9_-]+", "-", batch)[:80] if batch else _batch_of(frame)
        folder = results_dir() / run_slug(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{suite}.{batch}.{uuid.uuid4().hex[:8]}.json"
        payload = {"run_id": run_id, "suite": suite, "batch": batch, "result": _redacted(result.to_json_dict())}
        path.write_text(json.dumps(payload, default=str), encoding="utf-8")
        return path
    except Exception as exc:  # Data Docs are for engineers: never fail a load for them
        log.warning("validation result not kept for Data Docs: %s: %s", type(exc).__name__, exc)
        return None


def _batch_of(frame: Any) -> str:
    """The batch the frame belongs to (its provider and batch id columns), as a file-name-safe label."""
    parts = []
    for column in ("provider_ods", "batch_id"):
        if frame is not None and column in getattr(frame, "columns", ()) and len(frame):
            parts.append(str(frame[column].iloc[0]))
    label = "_".join(parts) or "batch"
    return re.sub(r"[^A-Za-z0-9_-]+", "-", label)[:80]


def load_runs(last: int = 5, home: Path | None = None) -> list[tuple[str, list[dict[str, Any]]]]:
    """The last ``last`` runs' results (newest last): ``(run_id, [payload, ...])``."""
    root = results_dir(home)
    if not root.is_dir():
        return []
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)[-last:]
    runs = []
    for folder in folders:
        payloads = []
        for path in sorted(folder.glob("*.json")):
            try:
                payloads.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        if payloads:
            runs.append((str(payloads[0]["run_id"]), payloads))
    return runs
