"""One rule for every ``psirf`` command: a problem the user can fix is one line on stderr and exit 2, never a
traceback.

:func:`guard_commands` wraps every registered command (the main app's, the analytics and quality commands alike)
in :func:`user_errors`, so no command can forget it. Commands that need the warehouse are checked before they run
(:func:`warehouse.ready.open_warehouse`): not migrated, locked by another process (named), unreachable. That check
never connects to a DuckDB file that does not exist, so ``psirf load`` before ``psirf init`` leaves no empty file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from psirf.errors import PsirfError

console = Console(stderr=True)

WAREHOUSE_COMMANDS = frozenset({"run", "load", "status", "marts", "report", "access", "scores"})
"""Commands that read or write the warehouse (``report`` is both ``psirf report`` and ``psirf quality report``):
checked before they start. ``init`` creates the warehouse; ``check`` never opens it."""


def fail(message: str) -> None:
    """Print ``error: <message>`` on one line (never wrapped) and exit 2."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn :class:`PsirfError` and the database errors an operator can act on into :func:`fail`."""
    from sqlalchemy.exc import DBAPIError

    from psirf.settings import warehouse_url
    from warehouse.ready import describe

    try:
        yield
    except PsirfError as exc:
        fail(str(exc))
    except DBAPIError as exc:
        message = describe(exc, warehouse_url())
        if message is None:
            raise
        fail(message)


def guarded(fn: Callable[..., Any], *, needs_warehouse: bool = False) -> Callable[..., Any]:
    """``fn`` run inside :func:`user_errors`, after checking the warehouse when it needs one."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            if needs_warehouse:
                from warehouse.ready import open_warehouse

                open_warehouse().dispose()
            return fn(*args, **kwargs)

    wrapper.__psirf_guarded__ = True  # type: ignore[attr-defined]
    return wrapper


def guard_commands(app: typer.Typer) -> None:
    """Wrap every command of ``app`` and of its sub-apps (once)."""
    for command in app.registered_commands:
        callback = command.callback
        if callback is None or getattr(callback, "__psirf_guarded__", False):
            continue
        name = command.name or callback.__name__.replace("_", "-")
        command.callback = guarded(callback, needs_warehouse=name in WAREHOUSE_COMMANDS)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard_commands(group.typer_instance)
