"""A night's batches transformed on every core, loaded one at a time: ``psirf run`` without Airflow.

In Airflow each provider's ``transform_validate`` is its own task, so providers are transformed in parallel on the
workers while the loads queue for the warehouse. :func:`run_providers` does the same in one machine: it extracts
every provider's new batches (the warehouse is opened here only), transforms and validates them in a pool of
``PSIRF_WORKERS`` processes (never opening the warehouse: DuckDB admits one process at a time to its file), and
loads each provider's batches in their order in this process as they are ready. The results are exactly those of
:func:`psirf.pipeline.run_provider` for each provider, one after another.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine


def workers() -> int:
    """``PSIRF_WORKERS`` (default: the machine's cores, at most 4): processes transforming batches at once; 1
    transforms in this process."""
    value = int(os.environ.get("PSIRF_WORKERS", str(min(os.cpu_count() or 1, 4))))
    if value < 1:
        raise ValueError(f"PSIRF_WORKERS must be a positive number of processes, not {value}")
    return value


def warm_up() -> None:
    """What every worker needs once (Great Expectations, its contexts and the canonical suites): paid when the
    worker starts, not by its first batch. A worker also ends when its parent does (:func:`_end_with_parent`)."""
    from expectations.canonical_suites import SUITES, _sql_source, build_suite, context

    threading.Thread(target=_end_with_parent, args=(os.getppid(),), daemon=True, name="psirf-orphan-watch").start()

    context()
    _sql_source()
    for table in SUITES:
        build_suite(table)


def _end_with_parent(parent: int) -> None:
    """A worker whose parent was killed (SIGKILL: no clean-up runs) would wait for work forever, holding its memory
    and the batch it was on; it exits as soon as it is orphaned (its work folder is swept by the next run)."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _process(ref: dict[str, Any], key: bytes) -> dict[str, Any]:
    from psirf.pipeline import process_batch

    return process_batch(ref, key=key)


def start_pool(size: int, initializer: Callable[[], None] = warm_up) -> ProcessPoolExecutor:
    """``size`` worker processes, started and warmed up (:func:`warm_up`, or ``initializer``) before returning."""
    # spawn: a forked child would inherit the parent's open DuckDB file and SQLAlchemy pools
    pool = ProcessPoolExecutor(size, mp_context=multiprocessing.get_context("spawn"), initializer=initializer)
    for future in [pool.submit(time.sleep, 0.2) for _ in range(size)]:  # one each: every worker starts now
        future.result()
    return pool


@contextmanager
def _pool(size: int) -> Iterator[ProcessPoolExecutor | None]:
    if size <= 1:
        yield None
        return
    with start_pool(size) as pool:
        yield pool


def run_providers(codes: list[str], *, run_id: str | None = None, engine: Engine | None = None,
                  on_batch: Callable[[str, dict[str, Any]], None] | None = None,
                  size: int | None = None, pool: ProcessPoolExecutor | None = None,
                  extracted_at: dt.datetime | None = None) -> dict[str, list[dict[str, Any]] | BaseException]:
    """Each provider's batch results (as :func:`psirf.pipeline.run_provider` returns them), or the exception that
    stopped it; a provider that fails leaves the others running. ``size``: worker processes (default
    :func:`workers`); ``pool``: workers already started (:func:`start_pool`), used instead."""
    from psirf.cleanup import discard_batches
    from psirf.pipeline import extract_provider, load_or_reject, process_batch
    from psirf.secrets import pseudonymisation_key
    from warehouse.ready import open_warehouse

    engine = engine or open_warehouse()
    key = pseudonymisation_key()
    outcome: dict[str, list[dict[str, Any]] | BaseException] = {}
    refs: dict[str, list[dict[str, Any]]] = {}
    for code in codes:
        try:
            refs[code] = extract_provider(code, run_id=run_id, engine=engine, extracted_at=extracted_at)
        except Exception as exc:  # reported per provider, as run_provider's caller does
            outcome[code] = exc
    with contextlib.nullcontext(pool) if pool is not None else _pool(size or workers()) as pool:
        futures: dict[str, list[Future[dict[str, Any]]]] = {}
        if pool is not None:
            futures = {code: [pool.submit(_process, ref, key) for ref in batch] for code, batch in refs.items()}
        for code, batch in refs.items():
            results: list[dict[str, Any]] = []
            try:
                for i, ref in enumerate(batch):
                    processed = futures[code][i].result() if pool is not None else process_batch(ref, key=key)
                    results.append(load_or_reject(processed, engine))
                    if on_batch is not None:
                        on_batch(code, results[-1])
                outcome[code] = results
            except BaseException as exc:  # the batches not reached yet must not linger (as in run_provider)
                for future in futures.get(code, []):
                    if not future.cancel():
                        future.exception()  # let a running one finish before its files are removed
                discard_batches(batch)
                if not isinstance(exc, Exception):  # an interrupt stops the run; a provider's failure does not
                    raise
                outcome[code] = exc
    return {code: outcome[code] for code in codes}
