"""The analysts' marts: build the dbt project on the warehouse, then make the result reachable.

:func:`refresh` is what ``psirf marts``, ``psirf run`` and the bench call: one ``dbt build`` (seeds, the
organisation snapshot, every model — facts incrementally, in proportion to what changed — and every test),
then :func:`publish`. In Airflow the same build runs model by model through astronomer-cosmos
(:mod:`psirf.dbt_cosmos`), and its last task calls :func:`publish`.

:func:`publish` makes the build reachable the way each engine allows: on PostgreSQL it re-applies grants and
forced row-level security (dbt recreates table models without them) when ``psirf access`` has set the roles up;
on DuckDB it writes the read-only copy for BI tools (:mod:`warehouse.publish`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

from psirf import settings
from warehouse.dbt_project import BuildResult, DbtError, build

__all__ = ["publish", "refresh", "test_marts"]


def _failure_summary(result: BuildResult) -> str:
    parts = []
    for failure in result.failures[:5]:
        first_line = (failure["message"] or failure["status"]).strip().splitlines()[0]
        parts.append(f"{failure['name']} ({failure['status']}: {first_line})")
    more = len(result.failures) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _url(target: str | Engine | None) -> str | None:
    """A URL for dbt. An engine is disposed first: DuckDB admits one open database per file and process, and dbt
    opens its own (the engine reconnects when next used)."""
    if isinstance(target, Engine):
        target.dispose()
        return target.url.render_as_string(hide_password=False)
    return target


def refresh(target: str | Engine | None = None, *, full: bool = False, tests: bool = True,
            full_checks: bool = False, on_node: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """``dbt build`` then :func:`publish`; raises :class:`DbtError` naming what failed (nothing is published).

    ``target``: the warehouse URL (default the configured one) or an engine on it; ``tests=False`` builds without
    running the dbt tests (for callers that test the models' contents themselves); ``full_checks``: the tests read
    every row, not only those changed since their last pass."""
    url = _url(target)
    result = build(url, full_refresh=full, tests=tests, full_checks=full_checks, on_node=on_node)
    if not result.success:
        raise DbtError(f"the marts build failed: {_failure_summary(result)} "
                       f"(dbt log: {settings.psirf_home() / 'dbt' / 'logs' / 'dbt.log'})")
    return {**result.as_dict(), "full": full, "full_checks": full or full_checks, **publish(url)}


def test_marts(target: str | Engine | None = None) -> dict[str, Any]:
    """Every dbt test of the project (after a node-by-node build in Airflow); raises :class:`DbtError` naming the
    failures. Tests that span several models run here, once every model is built."""
    from warehouse.dbt_project import invoke

    result = invoke(["test"], _url(target))
    if not result.success:
        raise DbtError(f"the marts tests failed: {_failure_summary(result)} "
                       f"(dbt log: {settings.psirf_home() / 'dbt' / 'logs' / 'dbt.log'})")
    return result.as_dict()


def publish(target: str | Engine | None = None) -> dict[str, Any]:
    """After a build: access control on PostgreSQL (when configured), the read-only copy on DuckDB."""
    from psirf.registry import load_registry
    from warehouse.access import access_configured, apply_access
    from warehouse.db import is_duckdb, make_engine
    from warehouse.publish import publish_duckdb

    url = _url(target)
    engine = make_engine(url)
    try:
        if is_duckdb(engine):
            engine.dispose()
            return publish_duckdb(url)
        if not access_configured(engine):
            return {"access": "not configured (run `psirf access`)"}
        applied = apply_access(engine, [p.ods_code for p in load_registry()])
        return {"access": f"{len(applied['row_security'])} tables with row-level security, "
                          f"{len(applied['views'])} views"}
    finally:
        engine.dispose()
