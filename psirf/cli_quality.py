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


MEASURE_ROWS = (
    ("incidents", "Incidents"),
    ("moderate_or_worse", "Moderate or worse harm"),
    ("candour_notified", "Duty of Candour: notified"),
    ("candour_not_yet_notified", "Duty of Candour: not yet notified"),
    ("candour_not_recorded", "Duty of Candour: not recorded or No"),
    ("share_candour_recorded", "Duty of Candour recorded, %"),
    ("median_days_to_report", "Median days to report"),
    ("share_within_target_days", "Reported within target days, %"),
    ("never_events", "Never Events"),
    ("never_events_without_response", "Never Events without a learning response"),
    ("incidents_with_response", "Incidents with a learning response"),
)


@quality_app.command("scores")
def scores(provider: Annotated[str, typer.Option("--provider", "-p", help="provider ODS code")],
           loads: Annotated[int, typer.Option(help="how many recent loads")] = 10,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Score per dimension over the provider's recent loads (100 = every check passed), and the provider's
    figures for the last 12 complete months (Duty of Candour, timeliness, Never Events) and safety actions today:
    read from the marts, the same numbers as the feedback and system reports."""
    import datetime as dt

    import sqlalchemy as sa

    from warehouse import measures
    from warehouse.ready import open_warehouse

    ods = provider.upper()
    engine = open_warehouse()
    try:
        trend = measures.dimension_scores(engine, ods, loads)
        period = measures.last_complete_month(dt.date.today())
        figures = measures.provider_measures(engine, period, ods)
        actions = measures.safety_actions_today(engine, ods)
    except sa.exc.DBAPIError as exc:  # no marts yet: a user mistake, not a crash
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        _fail(f"cannot read the marts ({reason}); run `psirf init`, load, then `psirf marts`")
        return
    finally:
        engine.dispose()
    wide = (trend.pivot_table(index=["loaded_at", "load_id"], columns="dimension", values="score").reset_index()
            if len(trend) else trend)
    figure = figures.iloc[0].to_dict() if len(figures) else {}
    action = actions.iloc[0].to_dict() if len(actions) else {}
    if as_json:
        _out.print_json(json.dumps({"scores": json.loads(wide.to_json(orient="records", date_format="iso")),
                                    "measures": figure, "safety_actions_today": action}, default=str))
        return
    table = Table(title=f"{ods}: score per dimension")
    for column in wide.columns:
        table.add_column(str(column))
    for row in wide.itertuples(index=False):
        table.add_row(*(f"{v:.1f}" if isinstance(v, float) else str(v) for v in row))
    _out.print(table)
    if figure:
        facts = Table(title=f"{ods}: {figure['period_label']}")
        facts.add_column("measure")
        facts.add_column("figure", justify="right")
        for key, label in MEASURE_ROWS:
            facts.add_row(label, "" if figure.get(key) is None else str(figure[key]))
        if action:
            facts.add_row("Safety actions open today", str(action["open"]))
            facts.add_row("Safety actions overdue today", str(action["overdue"]))
        _out.print(facts)


@quality_app.command("docs")
def docs() -> None:
    """Build the Great Expectations Data Docs under $PSIRF_HOME/gx/data_docs: every suite, and the validation
    results of the last runs (a page per suite and batch, pass or fail), rendering offline."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from expectations.data_docs import build_data_docs

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=_console,
                  transient=True) as progress:
        progress.add_task("building the Data Docs (suites and the last runs' validation results)", total=None)
        index = build_data_docs()
    _out.print(f"Data Docs: {index}")
