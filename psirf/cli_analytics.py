"""``psirf`` commands for the analysts' side: marts refresh, system report, access roles, data dictionary.

A typer app merged into the main CLI (``app.add_typer(analytics_app)`` in :mod:`psirf.cli`), so the commands are
``psirf marts``, ``psirf report --system``, ``psirf access`` and ``psirf dictionary``. Each calls the same
function the DAGs call.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from psirf.errors import PsirfError

analytics_app = typer.Typer(add_completion=False, no_args_is_help=True)
console = Console(stderr=True)
out = Console()


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=2)


def _print(result: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        out.print_json(json.dumps(result, default=str))
    else:
        out.print(text, highlight=False)


@analytics_app.command()
def marts(full: Annotated[bool, typer.Option("--full", help="re-read every canonical row")] = False,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Refresh the analysts' star schema from the canonical tables (incremental unless --full)."""
    from warehouse.marts import refresh

    result = refresh(full=full)
    read = ", ".join(f"{table} {count}" for table, count in result["rows_read"].items())
    _print(result, as_json, f"marts refreshed ({'full' if full else 'incremental'}): rows read: {read}")


@analytics_app.command()
def report(system: Annotated[bool, typer.Option("--system", help="the system-wide PSIRF report")] = False,
           as_of: Annotated[str | None, typer.Option(help="report date YYYY-MM-DD (default today)")] = None,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Build a report: --system writes the system-wide report under $PSIRF_HOME/reports/system/<date>/."""
    from reports.system_report import build_for_run

    if not system:
        _fail("say which report: --system")
    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        _fail(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)")
    result = build_for_run(day)
    _print(result, as_json, f"system report: {result['path']}")


@analytics_app.command()
def access(prefix: Annotated[str | None, typer.Option(help="role name prefix (default $PSIRF_ROLE_PREFIX or "
                                                            "psirf_)")] = None,
           drop: Annotated[bool, typer.Option("--drop", help="remove the roles and their grants instead")] = False,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """PostgreSQL roles (loader, analyst, one per provider) with grants and forced row-level security."""
    from psirf.registry import load_registry
    from warehouse.access import apply_access, drop_access
    from warehouse.db import make_engine

    engine = make_engine()
    try:
        providers = [p.ods_code for p in load_registry()]
        if drop:
            dropped = drop_access(engine, providers, prefix)
            _print({"dropped": dropped}, as_json, f"dropped roles: {', '.join(dropped) or 'none'}")
            return
        result = apply_access(engine, providers, prefix)
    except PsirfError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    _print(result, as_json, f"roles: {', '.join(result['roles'])}\nforced row-level security on "
                            f"{len(result['row_security'])} tables; {len(result['views'])} views granted")


@analytics_app.command()
def dictionary(check: Annotated[bool, typer.Option("--check", help="fail if the file is out of date")] = False,
               path: Annotated[Path | None, typer.Option(help="default docs/data_dictionary.md")] = None) -> None:
    """Write the analysts' data dictionary (tables, views, columns, code lists) from the models and views."""
    from warehouse.data_dictionary import DICTIONARY_PATH, render

    target = path or DICTIONARY_PATH
    text = render()
    if check:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            _fail(f"{target} is out of date: run `psirf dictionary`")
        out.print(f"{target} is up to date")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    out.print(f"wrote {target}")
