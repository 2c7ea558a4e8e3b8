"""The raw layer: whole-file checks before any value is interpreted, as GX 1.x suites ``raw.<entity>``.

Required columns present (the profile's columns for the entity), at least one data row, a row count within a
band around the provider's recent files (from the ledger; a warning), and an accepted character encoding.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from expectations.gx_runner import RESULT_COLUMNS, meta, rule_results, validate

ALLOWED_ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "utf-16")
ENCODING_COLUMN = "__encoding__"
MIN_HISTORY = 3  # loads needed before the volume band means anything


def row_count_band_factor() -> float:
    """``PSIRF_ROW_COUNT_BAND`` (default 3): a file is unusual below median/f or above median*f rows."""
    return float(os.environ.get("PSIRF_ROW_COUNT_BAND", "3"))


@dataclass(frozen=True)
class RowCountBand:
    low: int
    high: int
    median: float
    loads: int


def row_count_band(history: Sequence[int]) -> RowCountBand | None:
    """The expected volume from the last loads' row counts; None until there are at least ``MIN_HISTORY``."""
    counts = [c for c in history if c > 0]
    if len(counts) < MIN_HISTORY:
        return None
    median = statistics.median(counts)
    factor = row_count_band_factor()
    return RowCountBand(low=max(1, int(median / factor)), high=int(median * factor + 0.5), median=median,
                        loads=len(counts))


def raw_expectations(required_columns: Sequence[str], band: RowCountBand | None) -> list[Any]:
    import great_expectations as gx

    ex = gx.expectations
    checks: list[Any] = [ex.ExpectColumnToExist(column=c, meta=meta("raw.column_missing", c, "batch"))
                         for c in required_columns]
    checks.append(ex.ExpectTableRowCountToBeBetween(min_value=1, meta=meta("batch.empty", None, "batch")))
    checks.append(ex.ExpectColumnValuesToBeInSet(column=ENCODING_COLUMN, value_set=list(ALLOWED_ENCODINGS),
                                                 meta=meta("raw.unreadable", "encoding", "batch")))
    if band is not None:
        checks.append(ex.ExpectTableRowCountToBeBetween(min_value=band.low, max_value=band.high,
                                                        meta=meta("raw.row_count_unusual", None, "batch")))
    return checks


def check_raw(entity: str, frame: pd.DataFrame, encoding: str, required_columns: Sequence[str],
              history: Sequence[int] = ()) -> pd.DataFrame:
    """Rule results of the suite ``raw.<entity>`` for one file's raw rows (strings, as read)."""
    band = row_count_band(history)
    checked = frame.assign(**{ENCODING_COLUMN: encoding})
    name = f"raw.{entity}"
    result = validate(name, raw_expectations(required_columns, band), checked)
    return rule_results("raw", name, result, len(frame))


def unreadable(entity: str, rule_id: str) -> pd.DataFrame:
    """The result of a file that could not be read at all: one failed whole-file check."""
    from expectations.rules import describe

    rule = describe(rule_id)
    return pd.DataFrame([{"layer": "raw", "suite": f"raw.{entity}", "rule_id": rule_id, "field": None,
                          "dimension": rule.dimension, "severity": rule.severity, "scope": "batch",
                          "rows_evaluated": 1, "rows_failed": 1}], columns=RESULT_COLUMNS)
