"""Stage names for whoever shows progress (the CLI's rich progress bars); silent when nobody listens.

The pipeline calls :func:`stage` at its steps ("reading and validating", "writing the report", ...); the CLI
installs a listener with :func:`listening` for the duration of a command. No terminal code here, so the DAG's
tasks call the same functions and simply log nothing extra.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

_listener: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar("psirf_progress",
                                                                                         default=None)


def stage(text: str) -> None:
    listener = _listener.get()
    if listener is not None:
        listener(text)


@contextlib.contextmanager
def listening(listener: Callable[[str], None]) -> Iterator[None]:
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
