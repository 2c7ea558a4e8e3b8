"""``psirf``: the same pipeline functions the Airflow DAG calls, for engineers at a terminal."""

from __future__ import annotations

import json
import sys
import uuid
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
ENTITY_HELP = "incidents | safety_actions (default: from the file name and the provider's globs)"


def _fail(message: str) -> None:
    fail(message)


def _summary_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for col in ("provider", "entity", "file", "status", *COUNT_KEYS):
        table.add_column(col, justify="right" if col in COUNT_KEYS else "left")
    for r in rows:
        name = Path(str(r.get("source_file", ""))).name
        table.add_row(str(r.get("provider_ods", "")), str(r.get("entity", "")), name, str(r.get("status", "")),
                      *(str(r.get(k, "")) for k in COUNT_KEYS))
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
    from psirf.pipeline import enabled_providers, run_provider
    from psirf.secrets import pseudonymisation_key

    pseudonymisation_key()  # a refused key stops the run before any provider, in one line
    sweep_stale()  # work folders and landing files a killed run left behind
    codes = provider or enabled_providers()
    run_id = f"cli__{uuid.uuid4()}"
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  disable=as_json) as progress:
        for code in codes:
            task = progress.add_task(f"{code}: loading", total=None)
            try:
                def show(r: dict[str, Any], t: Any = task, c: str = code) -> None:
                    progress.update(t, description=f"{c}: {Path(str(r.get('source_file'))).name} {r.get('status')}")

                batches = run_provider(code, run_id=run_id, on_batch=show)
            except PsirfError as exc:
                failed.append(code)
                results.append({"provider_ods": code, "status": "failed", "message": str(exc)})
                progress.update(task, description=f"{code}: failed")
                continue
            results.extend(batches)
            if any(b.get("status") == "rejected" for b in batches):
                failed.append(code)
            progress.update(task, description=f"{code}: {len(batches)} new file(s)", completed=1, total=1)
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
        with console.status(f"loading {file.name}"):
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

    with console.status(f"checking {file.name}"):
        result = check_file(file, provider, entity=entity, rejects_csv=rejects, report_dir=report_dir)
    _report(result, as_json)
    if not as_json and result.get("report_files"):
        out.print(f"feedback report: {result['report_files']['html']} (with CSV and Excel of held-back rows)")
    if result["status"] == "rejected":
        raise typer.Exit(code=1)


@app.command()
def status(limit: Annotated[int, typer.Option(help="how many recent batches")] = 20,
           provider: Annotated[str | None, typer.Option("--provider", "-p")] = None,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the batch ledger (most recent first) and the warehouse's row counts."""
    from psirf.settings import warehouse_url
    from warehouse.ledger import provider_totals, recent_batches, table_counts
    from warehouse.ready import open_warehouse

    engine = open_warehouse()
    try:
        batches = recent_batches(engine, limit=limit, provider_ods=provider.upper() if provider else None)
        totals = provider_totals(engine)
        counts = table_counts(engine)
    finally:
        engine.dispose()
    if as_json:
        out.print_json(json.dumps({"providers": totals, "batches": batches, "counts": counts}, default=str))
        return
    summary = Table(title="per provider (all loads)")
    for col in ("provider", "batches", "rejected", *COUNT_KEYS, "last load"):
        summary.add_column(col, justify="left" if col in ("provider", "last load") else "right")
    for t in totals:
        summary.add_row(t["provider_ods"], str(t["batches"]), str(t["rejected"]), *(str(t[k]) for k in COUNT_KEYS),
                        str(t["last_load"])[:19])
    out.print(summary)
    table = Table(title=f"batch ledger — {_safe_url(warehouse_url())}")
    for col in ("finished", "provider", "entity", "file", "encoding", "status", *COUNT_KEYS):
        table.add_column(col, justify="right" if col in COUNT_KEYS else "left")
    for b in batches:
        table.add_row(str(b["finished_at"])[:19], b["provider_ods"], b["entity"], Path(b["source_file"]).name,
                      str(b.get("encoding") or ""), b["status"], *(str(b[k]) for k in COUNT_KEYS))
    out.print(table)
    out.print("rows: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


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
