"""``psirf``: the same pipeline functions the Airflow DAG calls, for engineers at a terminal."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from psirf.cli_errors import fail, guard_commands
from psirf.errors import PsirfError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Patient-safety data platform: load provider incident feeds into the warehouse.")
console = Console(stderr=True)
out = Console()

COUNT_KEYS = ("rows_in", "loaded", "quarantined", "duplicates")
ENTITY_HELP = ("incidents | safety_actions | learning_responses (default: from the file name and the provider's "
               "globs; pass it when the name matches none)")
SHORT_KEYS = {"rows_in": "in", "loaded": "loaded", "quarantined": "held", "duplicates": "dup"}


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


@contextlib.contextmanager
def _progress(what: str, *, disable: bool = False) -> Iterator[None]:
    """A rich spinner with the current stage (from :mod:`psirf.progress`) and the time elapsed, on stderr."""
    from psirf.progress import listening

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True, disable=disable) as progress:
        task = progress.add_task(what, total=None)
        with listening(lambda stage: progress.update(task, description=f"{what}: {stage}")):
            yield


def _fail(message: str) -> None:
    fail(message)


def _summary_table(title: str, rows: list[dict[str, Any]]) -> Table:
    """Per file: provider, entity, file, status and counts; long values wrap, so it fits 80 columns."""
    table = Table(title=title, expand=False)
    table.add_column("prov", no_wrap=True)
    table.add_column("entity", overflow="fold", max_width=10)
    table.add_column("file", overflow="fold", ratio=1)
    table.add_column("status", no_wrap=True)
    for k in COUNT_KEYS:
        table.add_column(SHORT_KEYS[k], justify="right", no_wrap=True)
    for r in rows:
        name = Path(str(r.get("source_file", ""))).name
        table.add_row(str(r.get("provider_ods", "")), str(r.get("entity", "")), name, str(r.get("status", "")),
                      *("" if r.get(k) is None else str(r.get(k)) for k in COUNT_KEYS))
    table.caption = "in = rows in, held = held back (quarantined), dup = exact duplicates"
    return table


@app.command()
def init() -> None:
    """Create or upgrade the warehouse schema (Alembic) and seed the organisations."""
    from psirf.registry import load_registry
    from psirf.settings import warehouse_url
    from warehouse.db import make_engine
    from warehouse.dbt_project import parse_project
    from warehouse.migrate import upgrade
    from warehouse.reference import seed_organisations

    url = warehouse_url()
    providers = load_registry()
    with console.status("migrating the warehouse"):
        upgrade(url)
        engine = make_engine(url)
        try:
            seed_organisations(engine, providers)
        finally:
            engine.dispose()
    with console.status("parsing the dbt project (the manifest Airflow lays the marts tasks out from)"):
        parse_project(url)
    out.print(f"warehouse ready: {_safe_url(url)}")


@app.command()
def run(provider: Annotated[list[str] | None, typer.Option("--provider", "-p", help="ODS code(s); all if none")] = None,
        marts: Annotated[bool, typer.Option("--marts/--no-marts", help="build the marts after loading")] = True,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False) -> None:
    """Load every enabled provider's new files, then build the marts (the nightly run without Airflow)."""
    from psirf.cleanup import sweep_stale
    from psirf.parallel import run_providers
    from psirf.pipeline import enabled_providers
    from psirf.secrets import pseudonymisation_key

    pseudonymisation_key()  # a refused key stops the run before any provider, in one line
    sweep_stale()  # work folders and landing files a killed run left behind
    codes = provider or enabled_providers()
    run_id = f"cli__{uuid.uuid4()}"
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    # PSIRF_RUN_ID: the run's validation results are kept for Data Docs (expectations/run_results.py)
    with _env("PSIRF_RUN_ID", run_id), Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                                 TimeElapsedColumn(), console=console, disable=as_json) as progress:
        tasks = {code: progress.add_task(f"{code}: loading", total=None) for code in codes}

        def show(code: str, r: dict[str, Any]) -> None:
            progress.update(tasks[code], description=f"{code}: {Path(str(r.get('source_file'))).name} "
                                                     f"{r.get('status')}")

        # transformed on every core (PSIRF_WORKERS), loaded one batch at a time, as the DAG's tasks are
        for code, batches in run_providers(codes, run_id=run_id, on_batch=show).items():
            if isinstance(batches, PsirfError):
                failed.append(code)
                results.append({"provider_ods": code, "status": "failed", "message": str(batches)})
                progress.update(tasks[code], description=f"{code}: failed")
                continue
            if isinstance(batches, BaseException):
                raise batches
            results.extend(batches)
            if any(b.get("status") == "rejected" for b in batches):
                failed.append(code)
            progress.update(tasks[code], description=f"{code}: {len(batches)} new file(s)", completed=1, total=1)
        built: dict[str, Any] | None = None
        if marts:  # after every provider, as the DAG does: the marts must never show half a night
            from psirf.cli_analytics import build_marts

            built = build_marts(progress)
    if as_json:
        out.print_json(json.dumps({"run_id": run_id, "batches": results, "failed_providers": failed,
                                   "marts": built}, default=str))
    else:
        out.print(_summary_table("psirf run", results))
        for r in results:
            if r.get("message"):
                console.print(f"[yellow]{r.get('provider_ods')}[/]: {r['message']}", highlight=False)
    if failed:
        raise typer.Exit(code=1)


@app.command()
def load(file: Path, provider: Annotated[str, typer.Option("--provider", "-p", help="provider ODS code")],
         entity: Annotated[str | None, typer.Option(help=ENTITY_HELP)] = None,
         as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Load one file for one provider."""
    from psirf.cleanup import sweep_stale
    from psirf.errors import BatchRejected
    from psirf.pipeline import load_file

    sweep_stale()  # work folders and landing files a killed run left behind
    try:
        with _progress(f"loading {file.name}", disable=as_json):
            result = load_file(file, provider, entity=entity, run_id=f"cli__{uuid.uuid4()}")
    except BatchRejected as exc:
        result = {"source_file": str(file), "provider_ods": provider.upper(), "status": "rejected",
                  "message": exc.problem, "rows_in": None, "loaded": 0, "quarantined": None, "duplicates": 0}
    _report(result, as_json)
    if result["status"] == "rejected":
        raise typer.Exit(code=1)


@app.command()
def check(file: Path, provider: Annotated[str, typer.Option("--provider", "-p", help="provider ODS code")],
          entity: Annotated[str | None, typer.Option(help=ENTITY_HELP)] = None,
          rejects: Annotated[Path | None, typer.Option(help="CSV of rejected rows (default FILE.rejects.csv)")] = None,
          report_dir: Annotated[Path | None, typer.Option(
              help="folder for the feedback report: HTML, summary, CSV and Excel (default FILE.report/)")] = None,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Validate a file as the nightly load would, writing nothing to the warehouse; write the feedback report."""
    from psirf.pipeline import check_file

    with _progress(f"checking {file.name}", disable=as_json):
        result = check_file(file, provider, entity=entity, rejects_csv=rejects, report_dir=report_dir)
    _report(result, as_json)
    if not as_json and result.get("report_files"):
        out.print(f"feedback report: {result['report_files']['html']} (with CSV and Excel of held-back rows)")
    if result["status"] == "rejected":
        raise typer.Exit(code=1)


@app.command()
def status(limit: Annotated[int, typer.Option(help="how many recent batches")] = 20,
           provider: Annotated[str | None, typer.Option("--provider", "-p", help="one provider's ODS code")] = None,
           wide: Annotated[bool, typer.Option("--wide", help="every column (encoding, full times, run id)")] = False,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the batch ledger (most recent first, with why a file was rejected) and the warehouse's row counts.

    The tables fit an 80-column terminal (long values wrap); ``--wide`` adds the encoding, full times and run id.
    ``-p ODS`` filters every table to one provider."""
    from psirf.settings import warehouse_url
    from warehouse.ledger import provider_totals, recent_batches, table_counts
    from warehouse.ready import open_warehouse

    ods = provider.upper() if provider else None
    engine = open_warehouse()
    try:
        batches = recent_batches(engine, limit=limit, provider_ods=ods)
        totals = [t for t in provider_totals(engine) if ods is None or t["provider_ods"] == ods]
        counts = table_counts(engine) if ods is None else None
    finally:
        engine.dispose()
    if as_json:
        out.print_json(json.dumps({"providers": totals, "batches": batches, "counts": counts}, default=str))
        return
    summary = Table(title="per provider (all loads)")
    for col in ("prov", "files", "rej", *(SHORT_KEYS[k] for k in COUNT_KEYS), "last load"):
        summary.add_column(col, justify="left" if col in ("prov", "last load") else "right", no_wrap=True)
    for t in totals:
        summary.add_row(t["provider_ods"], str(t["batches"]), str(t["rejected"]), *(str(t[k]) for k in COUNT_KEYS),
                        str(t["last_load"])[:19 if wide else 16])
    out.print(summary)
    title = f"batch ledger — {_safe_url(warehouse_url())}" + (f" — {ods}" if ods else "")
    table = Table(title=title)
    table.add_column("finished", no_wrap=not wide, max_width=None if wide else 11)
    table.add_column("prov", no_wrap=True)
    table.add_column("entity", overflow="fold", max_width=None if wide else 9)
    table.add_column("file", overflow="fold", ratio=1)
    if wide:
        table.add_column("encoding")
        table.add_column("run", overflow="fold")
    table.add_column("status", no_wrap=True)
    for k in COUNT_KEYS:
        table.add_column(SHORT_KEYS[k], justify="right", no_wrap=True)
    for b in batches:
        finished = str(b["finished_at"])[:19] if wide else str(b["finished_at"])[5:16]
        extra = [str(b.get("encoding") or ""), str(b.get("run_id") or "")] if wide else []
        table.add_row(finished, b["provider_ods"], b["entity"], Path(b["source_file"]).name, *extra, b["status"],
                      *(str(b[k]) for k in COUNT_KEYS))
    table.caption = "in = rows in, held = held back, dup = exact duplicates" + ("" if wide else "; --wide for more")
    out.print(table)
    rejected = [b for b in batches if b["status"] == "rejected"]
    if rejected:
        reasons = Table(title="why rejected", show_header=True)
        reasons.add_column("file", overflow="fold", max_width=30)
        reasons.add_column("reason", overflow="fold", ratio=1)
        for b in rejected:
            reasons.add_row(f"{b['provider_ods']} {Path(b['source_file']).name}", str(b.get("message") or ""))
        out.print(reasons)
    if counts is not None:
        out.print("rows: " + ", ".join(f"{k} {v}" for k, v in counts.items()), soft_wrap=False)


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(result, default=str))
        return
    out.print(_summary_table(Path(str(result.get("source_file"))).name, [result]))
    if result.get("message"):
        console.print(f"{result['status']}: {result['message']}", highlight=False)
    if result.get("rejects_file"):
        out.print(f"rejected rows with reasons: {result['rejects_file']}")


def _safe_url(url: str) -> str:
    """A URL for display, without any password."""
    from warehouse.ready import safe_url

    return safe_url(url)


def _register_subcommands() -> None:
    """Commands that live in their own modules, each calling the same functions as the DAGs."""
    from psirf.cli_analytics import analytics_app
    from psirf.cli_quality import quality_app

    app.add_typer(quality_app, name="quality")
    for command in analytics_app.registered_commands:
        app.registered_commands.append(command)
    guard_commands(app)  # every command: user mistakes and warehouse problems as one line, exit 2


_register_subcommands()


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except PsirfError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
