"""What a batch leaves on disk, and making sure nothing of it outlives the batch.

A batch has a work folder (``$PSIRF_HOME/work/<batch id>/``: staged parquet parts, pseudonymised) and, for a REST
provider, a landing file (``<feed.path>/<entity>_<batch id>.jsonl``: the API's records as sent, **with** NHS numbers
and names). Both go once the batch is loaded, rejected or found already loaded, and also when a step fails:
:func:`discard_batches`. A step that will be retried keeps them for its retry (Airflow: every attempt but the
last, :func:`last_attempt`); a run that starts again from scratch re-reads the file or re-pulls the API (the
watermark only moves with committed data), so nothing is lost by discarding.

A process killed outright (SIGKILL, a lost worker) cleans nothing, so every run starts with :func:`sweep_stale`:
work folders and landing files older than the longest task timeout (``PSIRF_TASK_TIMEOUT_SECONDS``) cannot belong
to a task still running (Airflow would have stopped it), and are removed.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from psirf import settings
from psirf.registry import family, load_registry

log = logging.getLogger(__name__)

__all__ = ["discard_batch", "discard_batches", "last_attempt", "sweep_stale"]


def discard_batch(ref: dict[str, Any]) -> None:
    """Remove a batch's work folder and whatever its source family wrote for it (a REST landing file: the family's
    :meth:`~connectors.base.SourceFamily.after_load`), never a provider's own export."""
    batch_id = str(ref.get("batch_id") or "")
    try:
        uuid.UUID(batch_id)
    except ValueError:
        return
    shutil.rmtree(settings.psirf_home() / "work" / batch_id, ignore_errors=True)
    source = str(ref.get("source_file") or "")
    for provider in load_registry():
        if provider.ods_code == ref.get("provider_ods") and source:
            family(provider).after_load(provider, Path(source), batch_id)


def discard_batches(refs: Iterable[dict[str, Any]]) -> None:
    for ref in refs:
        try:
            discard_batch(ref)
        except OSError as exc:  # cleaning up must never hide the failure that made it necessary
            log.warning("could not remove the files of batch %s: %s", ref.get("batch_id"), exc)


def last_attempt(ti: Any) -> bool:
    """Whether an Airflow task instance is on its last try (no retry will need its batches' files); True outside
    Airflow or when it cannot tell."""
    try_number, max_tries = getattr(ti, "try_number", None), getattr(ti, "max_tries", None)
    if not isinstance(try_number, int) or not isinstance(max_tries, int):
        return True
    return try_number > max_tries


def _newest_mtime(path: Path) -> float:
    times = [path.stat().st_mtime]
    if path.is_dir():
        times += [p.stat().st_mtime for p in path.rglob("*")]
    return max(times)


def sweep_stale(*, older_than: float | None = None, now: float | None = None) -> list[str]:
    """Remove work folders and REST landing files untouched for longer than ``older_than`` seconds (default the
    task timeout); returns what was removed."""
    limit = settings.task_timeout_seconds() if older_than is None else older_than
    cutoff = (time.time() if now is None else now) - limit
    removed: list[str] = []
    work = settings.psirf_home() / "work"
    candidates: list[Path] = list(work.iterdir()) if work.is_dir() else []
    for provider in load_registry():
        candidates += family(provider).leftovers(provider)
    for path in candidates:
        try:
            if _newest_mtime(path) >= cutoff:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        removed.append(str(path))
    if removed:
        log.warning("removed %d stale work folder(s) or landing file(s) left by an earlier run: %s", len(removed),
                    ", ".join(removed))
    return removed
