"""Errors a user can act on. The CLI prints their message (no traceback); Airflow shows it in the task log."""

from __future__ import annotations

from expectations.rules import R


class PsirfError(Exception):
    """A problem with input or configuration that the user can fix: the message says what and where."""


class ConfigError(PsirfError):
    """The registry or a mapping profile is wrong."""


class BatchRejected(PsirfError):
    """A whole batch cannot be loaded (empty, undecodable, required column missing, too many invalid rows).

    Structured, so nothing parses the message back: ``rule_id`` is the catalogue rule the rejection is recorded
    under (:mod:`expectations.rules`), ``layer`` the layer of that rule, ``rows_in`` the rows the batch held when
    the reader or validator knew it (None: count them), ``field`` what the rule is about (a column, an element).
    """

    def __init__(self, source_file: str, problem: str, *, rule_id: str = R.RAW__UNREADABLE, layer: str = "raw",
                 rows_in: int | None = None, field: str | None = None) -> None:
        super().__init__(f"{source_file}: batch rejected: {problem}")
        self.source_file = source_file
        self.problem = problem
        self.rule_id = rule_id
        self.layer = layer
        self.rows_in = rows_in
        self.field = field
