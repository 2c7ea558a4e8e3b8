"""Safe cells for every spreadsheet the project writes (CSV and XLSX): no value can run as a formula.

Spreadsheet programs treat a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and a leading tab or
carriage return can hide one), so a provider's narrative or a record id such as ``=HYPERLINK(...)`` or
``=cmd|' /C calc'!A0`` would run when an analyst opens the file. OWASP's CSV-injection guidance: prefix such a
value with a single quote, so it is shown as text. Numbers, dates and booleans are written as they are (a
negative *number* is data, not a formula); only text is neutralised.

Use :func:`write_csv` for a CSV file and :func:`xlsx_row` for each row appended to an openpyxl sheet; both go
through :func:`safe_cell`, so the rule is the same in every file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["FORMULA_TRIGGERS", "safe_cell", "safe_frame", "write_csv", "write_rows", "xlsx_row"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection)."""


def safe_cell(value: Any) -> Any:
    """``value`` ready for a spreadsheet cell: text that could run as a formula gets a leading ``'``; a missing
    value (None, NaN, NA, NaT) becomes None (an empty cell); anything else is returned unchanged."""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_TRIGGERS) else value
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with :func:`safe_cell` applied to every value and every column name."""
    out = frame.astype(object).map(safe_cell)
    out.columns = [safe_cell(str(c)) for c in frame.columns]
    return out


def write_csv(path: Path, frame: pd.DataFrame, *, encoding: str = "utf-8-sig") -> Path:
    """Write ``frame`` as CSV with every cell made safe. ``utf-8-sig`` (a byte-order mark) lets Excel read UTF-8.

    Lines end in CRLF, so a value holding a carriage return or line feed is always quoted (with a bare ``\n``
    line end, a ``\r`` inside a value would be written unquoted and start a new row)."""
    safe_frame(frame).to_csv(path, index=False, encoding=encoding, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    return path


def write_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], *,
               encoding: str = "utf-8-sig") -> Path:
    """Write plain rows as CSV with every cell made safe (for callers that do not hold a DataFrame)."""
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(xlsx_row(header))
        for row in rows:
            writer.writerow(["" if v is None else v for v in xlsx_row(row)])
    return path


def xlsx_row(values: Iterable[Any]) -> list[Any]:
    """One row for ``openpyxl``'s ``sheet.append``: every cell made safe (openpyxl itself would store a string that
    starts with ``=`` as a formula)."""
    return [safe_cell(v) for v in values]
