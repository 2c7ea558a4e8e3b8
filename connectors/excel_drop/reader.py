"""Excel drops, the reader: workbooks (``.xlsx``) with one sheet per entity, read into raw string tables.

Excel changes data on the way: dates become serial numbers or date cells, long numbers become floats shown in
scientific notation, numbers are stored as text. The connector turns cells back into the strings a CSV export
would have held — dates in the profile's layout, whole numbers without ``.0`` — and leaves a number that Excel
shows in scientific notation *as shown* (e.g. ``9.43E+09``), so the NHS-number rule rejects it instead of
anyone "repairing" digits that are gone.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from connectors.base import RawBatch
from expectations.rules import R
from psirf.errors import BatchRejected

EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # serial 1 = 1900-01-01 (Excel's 1900 leap-year bug included)


@dataclass(frozen=True)
class ExcelSheetConfig:
    """Which sheet holds an entity, and how its date columns should be written back as text."""

    sheet: str | None  # None: the first sheet
    date_formats: dict[str, str] = field(default_factory=dict)  # column -> strftime layout the profile expects


def _cell_text(value: object, number_format: str, date_format: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if date_format:
            return value.strftime(date_format)
        return value.isoformat(sep=" ") if value.time() != dt.time(0) else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.strftime(date_format) if date_format else value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        if date_format and not isinstance(value, bool) and 1 <= float(value) < 2958466:
            return (EXCEL_EPOCH + dt.timedelta(days=float(value))).strftime(date_format)  # a bare serial date
        if "E+" in number_format.upper() or "E-" in number_format.upper():
            return f"{float(value):.2E}"  # as Excel shows it; the lost digits are not ours to invent
        if float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    return str(value)


def read_excel(path: Path, config: ExcelSheetConfig) -> RawBatch:
    """One sheet as strings; row numbers are the sheet's own (header = row 1)."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    source = str(path)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise BatchRejected(source, f"is not a readable .xlsx workbook ({type(exc).__name__}: {exc})",
                            rule_id=R.RAW__UNREADABLE) from None
    try:
        if config.sheet is None:
            sheet = workbook.worksheets[0]
        elif config.sheet in workbook.sheetnames:
            sheet = workbook[config.sheet]
        else:
            raise BatchRejected(source, f"has no sheet {config.sheet!r}; its sheets are {workbook.sheetnames}",
                                rule_id=R.RAW__SHEET_MISSING, field=config.sheet)
        rows = sheet.iter_rows()
        try:
            header_cells = next(rows)
        except StopIteration:
            raise BatchRejected(source, f"sheet {sheet.title!r} is empty", rule_id=R.BATCH__EMPTY) from None
        header = [" ".join(str(c.value).split()) if c.value is not None else "" for c in header_cells]
        while header and header[-1] == "":
            header.pop()
        if not header:
            raise BatchRejected(source, f"sheet {sheet.title!r} has no header row", rule_id=R.BATCH__EMPTY)
        formats = [config.date_formats.get(name) for name in header]
        records: list[list[str]] = []
        numbers: list[int] = []
        for row in rows:
            cells = list(row)[: len(header)]
            texts = [_cell_text(c.value, getattr(c, "number_format", "General") or "General", formats[i])
                     for i, c in enumerate(cells)]
            texts += [""] * (len(header) - len(texts))
            if all(t == "" for t in texts):
                continue
            records.append(texts)
            numbers.append(cells[0].row if cells and getattr(cells[0], "row", None) else len(records) + 1)
    finally:
        workbook.close()
    frame = pd.DataFrame(records, columns=header, dtype="string") if records else pd.DataFrame(
        {c: pd.Series(dtype="string") for c in header})
    return RawBatch(source_file=f"{source}#{sheet.title}", encoding="xlsx", columns=header, frame=frame,
                    row_numbers=numbers)
