"""``psirf`` commands for the analysts' side: the marts build, the system report, access and logins, dbt docs.

A typer app merged into the main CLI (``app.add_typer(analytics_app)`` in :mod:`psirf.cli`), so the commands are
``psirf marts``, ``psirf report --system``, ``psirf access`` and ``psirf docs``. Each calls the same function the
DAGs call.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from psirf.errors import PsirfError

analytics_app = typer.Typer(add_completion=False, no_args_is_help=True)
console = Console(stderr=True)
out = Console()

LOGIN_PASSWORD_ENV = "PSIRF_LOGIN_PASSWORD"  # noqa: S105 - the name of a variable, not a password


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=2)


def _print(result: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        out.print_json(json.dumps(result, default=str))
    else:
        out.print(text, highlight=False)


def build_marts(progress: Progress, *, full: bool = False, full_checks: bool = False) -> dict[str, Any]:
    """Run the marts build with a progress bar over the dbt nodes; a failure is one line and exit 1."""
    from warehouse.dbt_project import DbtError
    from warehouse.marts import refresh

    task = progress.add_task("marts: dbt build", total=None)

    def advance(node: dict[str, Any]) -> None:
        progress.update(task, advance=1, description=f"marts: {node['name']} {node['status']}")

    try:
        result = refresh(full=full, full_checks=full_checks, on_node=advance)
    except DbtError as exc:
        progress.update(task, description="marts: failed")
        progress.stop()
        console.print(f"[bold red]marts:[/] {exc}", highlight=False)
        raise typer.Exit(code=1) from None
    except PsirfError as exc:
        progress.stop()
        _fail(str(exc))
        raise  # unreachable: _fail exits
    progress.update(task, total=len(result.get("counts", {})) and sum(result["counts"].values()),
                    completed=sum(result["counts"].values()), description=f"marts built in {result['elapsed_s']} s")
    return result


@analytics_app.command()
def marts(full: Annotated[bool, typer.Option("--full", help="rebuild every model from scratch (--full-refresh)")]
          = False,
          full_checks: Annotated[bool, typer.Option(
              "--full-checks", help="every test reads every row (by default, the rows changed since its last pass; "
                                    "every row on --full and weekly: PSIRF_FULL_CHECKS_EVERY_DAYS)")] = False,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Build the analysts' marts (dbt build: models and their tests; facts incrementally unless --full)."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=as_json) as progress:
        result = build_marts(progress, full=full, full_checks=full_checks)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result["counts"].items()))
    published = result.get("published") or result.get("access", "")
    checked = "every row checked" if result["full_checks"] else "changed rows checked, every row weekly"
    _print(result, as_json, f"marts built ({'full' if full else 'incremental'}, {checked}, "
                            f"{result['elapsed_s']} s): {counts}"
                            f"\n{published}")


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
    try:
        result = build_for_run(day)
    except PsirfError as exc:
        _fail(str(exc))
    _print(result, as_json, f"system report: {result['path']}")


def _password() -> str:
    """From $PSIRF_LOGIN_PASSWORD, else asked for twice at the terminal (never echoed)."""
    password = os.environ.get(LOGIN_PASSWORD_ENV)
    if password:
        return password
    if not os.isatty(0):
        _fail(f"no password: set {LOGIN_PASSWORD_ENV} or run at a terminal to be asked for one")
    return str(typer.prompt("password for the new login", hide_input=True, confirmation_prompt=True))


@analytics_app.command()
def access(prefix: Annotated[str | None, typer.Option(help="role name prefix (default $PSIRF_ROLE_PREFIX or "
                                                            "psirf_)")] = None,
           drop: Annotated[bool, typer.Option("--drop", help="remove the roles and their grants instead")] = False,
           login: Annotated[str | None, typer.Option("--login", help="create (or re-password) a login for a "
                                                                     "person or service")] = None,
           role: Annotated[str | None, typer.Option("--role", help="with --login: analyst | provider | loader")]
           = None,
           provider: Annotated[str | None, typer.Option("--provider", "-p", help="with --role provider: its ODS "
                                                                                 "code")] = None,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """PostgreSQL roles (loader, analyst, one per provider) with grants and forced row-level security; --login
    gives a person a login in one of them (password from $PSIRF_LOGIN_PASSWORD or a prompt, never echoed)."""
    from psirf.registry import get_provider, load_registry
    from warehouse.access import apply_access, create_login, drop_access
    from warehouse.db import make_engine

    engine = make_engine()
    try:
        if login is not None:
            if role is None:
                _fail("--login needs --role analyst, provider or loader")
            ods = get_provider(provider).ods_code if provider else None
            made = create_login(engine, login, str(role), _password(), provider=ods, prefix=prefix)
            _print(made, as_json, f"login {made['login']} {'created' if made['created'] else 'updated'}: member of "
                                  f"{made['role']}")
            return
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
def docs(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Generate the dbt documentation (lineage, models, columns, tests) as one offline page."""
    from warehouse.dbt_docs import generate_docs

    try:
        with console.status("dbt docs generate"):
            path = generate_docs()
    except PsirfError as exc:
        _fail(str(exc))
    _print({"path": str(path)}, as_json, f"dbt docs: {path}")
