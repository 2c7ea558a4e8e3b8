"""``psirf quality``: the data-quality steps from a terminal (the DAG's feedback task calls the same functions).

Wire into the main CLI with ``app.add_typer(quality_app, name="quality")``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from psirf.errors import PsirfError

quality_app = typer.Typer(add_completion=False, no_args_is_help=True,
                          help="Data-quality feedback reports, score trends and Data Docs.")
_console = Console(stderr=True)
_out = Console()


def _fail(message: str) -> None:
    _console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=2)


@quality_app.command("report")
def report(provider: Annotated[str, typer.Option("--provider", "-p", help="provider ODS code")],
           run_id: Annotated[str | None, typer.Option(help="run id (default: the latest)")] = None,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check the warehouse for a provider and write (and e-mail, if configured) its feedback report."""
    from psirf.registry import get_provider
    from reports.provider_feedback import deliver_for_run

    try:
        ods = get_provider(provider).ods_code
        result = deliver_for_run(ods, run_id)
    except PsirfError as exc:
        _fail(str(exc))
        return
    if as_json:
        _out.print_json(json.dumps(result, default=str))
    elif result.get("outbox"):
        _out.print(f"{ods}: report in {result['outbox']} ({result['batches']} file(s), {result['rejected']} rejected, "
                   f"{result['held_back_rows']} held-back row(s), e-mailed to {result['emailed']})")
    else:
        _out.print(f"{ods}: {result.get('message')}")


@quality_app.command("scores")
def scores(provider: Annotated[str, typer.Option("--provider", "-p", help="provider ODS code")],
           loads: Annotated[int, typer.Option(help="how many recent loads")] = 10,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Score per dimension over the provider's recent loads (100 = every check passed)."""
    from warehouse.dq_results import dimension_trend
    from warehouse.ready import open_warehouse

    engine = open_warehouse()
    try:
        trend = dimension_trend(engine, provider.upper(), loads)
    finally:
        engine.dispose()
    wide = trend.pivot_table(index=["loaded_at", "load_id"], columns="dimension", values="score").reset_index()
    if as_json:
        _out.print_json(wide.to_json(orient="records", date_format="iso"))
        return
    table = Table(title=f"{provider.upper()}: score per dimension")
    for column in wide.columns:
        table.add_column(str(column))
    for row in wide.itertuples(index=False):
        table.add_row(*(f"{v:.1f}" if isinstance(v, float) else str(v) for v in row))
    _out.print(table)


@quality_app.command("docs")
def docs() -> None:
    """Build the Great Expectations Data Docs under $PSIRF_HOME/gx/data_docs."""
    from expectations.data_docs import build_data_docs

    _out.print(f"Data Docs: {build_data_docs()}")
