"""Errors a user can act on. The CLI prints their message (no traceback); Airflow shows it in the task log."""

from __future__ import annotations


class PsirfError(Exception):
    """A problem with input or configuration that the user can fix: the message says what and where."""


class ConfigError(PsirfError):
    """The registry or a mapping profile is wrong."""


class BatchRejected(PsirfError):
    """A whole batch cannot be loaded (empty, undecodable, required column missing, too many invalid rows)."""

    def __init__(self, source_file: str, problem: str) -> None:
        super().__init__(f"{source_file}: batch rejected: {problem}")
        self.source_file = source_file
        self.problem = problem
