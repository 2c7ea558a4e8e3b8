"""The raw layer: whole-file checks before any value is interpreted, as GX 1.x suites ``raw.<entity>``.

Required columns present (the profile's columns for the entity), at least one data row, a row count within a
band around the provider's recent files (from the ledger; a warning), and an encoding the source family accepts.
Every family runs this suite (:meth:`connectors.base.SourceFamily.raw_checks`) and adds its own results with
:func:`row_result` / :func:`batch_result` (Excel: the sheet; REST: the records' shape; FHIR: profile, taxonomy
version and elements), and the raw-layer warnings its reader noted (:func:`note_results`).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from expectations.gx_runner import RESULT_COLUMNS, meta, rule_results, validate
from expectations.rules import R

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


def raw_expectations(required_columns: Sequence[str], band: RowCountBand | None,
                     encodings: Sequence[str] = ALLOWED_ENCODINGS) -> list[Any]:
    import great_expectations as gx

    ex = gx.expectations
    checks: list[Any] = [ex.ExpectColumnToExist(column=c, meta=meta(R.RAW__COLUMN_MISSING, c, "batch"))
                         for c in required_columns]
    checks.append(ex.ExpectTableRowCountToBeBetween(min_value=1, meta=meta(R.BATCH__EMPTY, None, "batch")))
    checks.append(ex.ExpectColumnValuesToBeInSet(column=ENCODING_COLUMN, value_set=list(encodings),
                                                 meta=meta(R.RAW__UNREADABLE, "encoding", "batch")))
    if band is not None:
        checks.append(ex.ExpectTableRowCountToBeBetween(min_value=band.low, max_value=band.high,
                                                        meta=meta(R.RAW__ROW_COUNT_UNUSUAL, None, "batch")))
    return checks


def check_raw(entity: str, frame: pd.DataFrame, encoding: str, required_columns: Sequence[str],
              history: Sequence[int] = (), encodings: Sequence[str] = ALLOWED_ENCODINGS) -> pd.DataFrame:
    """Rule results of the suite ``raw.<entity>`` for one file's raw rows (strings, as read)."""
    band = row_count_band(history)
    checked = frame.assign(**{ENCODING_COLUMN: encoding})
    name = f"raw.{entity}"
    result = validate(name, raw_expectations(required_columns, band, encodings), checked)
    return rule_results("raw", name, result, len(frame))


def check_summary(entity: str, columns: Sequence[str], encoding: str, rows: int, required_columns: Sequence[str],
                  history: Sequence[int] = (), encodings: Sequence[str] = ALLOWED_ENCODINGS) -> pd.DataFrame:
    """The raw suite for a whole file known by its summary: its checks are whole-file ones (columns, rows,
    encoding), so they run over a stand-in with the file's header and row count (one byte per cell), not over the
    rows again (a file read in chunks is never held whole)."""
    stand_in = pd.DataFrame(0, index=pd.RangeIndex(rows), columns=list(dict.fromkeys(columns)), dtype="int8")
    return check_raw(entity, stand_in, encoding, required_columns, history, encodings)


def _result(entity: str, rule_id: str, field: str | None, scope: str, evaluated: int, failed: int) -> dict[str, Any]:
    from expectations.rules import describe, require

    rule = describe(require(rule_id))
    return {"layer": "raw", "suite": f"raw.{entity}", "rule_id": rule_id, "field": field,
            "dimension": rule.dimension, "severity": rule.severity, "scope": scope,
            "rows_evaluated": int(evaluated), "rows_failed": int(failed)}


def row_result(entity: str, rule_id: str, field: str | None, evaluated: int, failed: int) -> pd.DataFrame:
    """One row-level raw rule result (rows or records evaluated and failed), for a family's own checks."""
    return pd.DataFrame([_result(entity, rule_id, field, "row", evaluated, failed)], columns=RESULT_COLUMNS)


def batch_result(entity: str, rule_id: str, field: str | None, evaluated: int = 1, failed: int = 0) -> pd.DataFrame:
    """One whole-file raw rule result."""
    return pd.DataFrame([_result(entity, rule_id, field, "batch", evaluated, failed)], columns=RESULT_COLUMNS)


def note_results(summary: Any) -> pd.DataFrame:
    """A row-level result per (rule, field) of the warnings a reader noted (:class:`connectors.base.RawNote`):
    records evaluated, records noted."""
    counts: dict[tuple[str, str], set[int]] = {}
    for note in summary.notes:
        counts.setdefault((note.rule_id, note.field), set()).add(note.row_number)
    frames = [row_result(summary.entity, rule_id, fld, summary.records, len(rows))
              for (rule_id, fld), rows in sorted(counts.items())]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RESULT_COLUMNS)


def unreadable(entity: str, rule_id: str, field: str | None = None) -> pd.DataFrame:
    """The result of a file that could not be read at all: one failed whole-file check."""
    return batch_result(entity, rule_id, field, evaluated=1, failed=1)
