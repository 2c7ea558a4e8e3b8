"""The CSV reader as it was before issue 15 (Python's csv module, line by line): the oracle the Arrow reader is
checked against, value for value and row number for row number (tests/test_csv_reader_equivalence.py).

Original docstring:

CSV drops: read a provider's export file into a raw string table (the family itself is :mod:`.family`).

Datix-style listing exports arrive as Windows-1252 or UTF-8 (with or without a byte-order mark), or as UTF-16 with
a byte-order mark, tab-delimited (what Excel's "Unicode Text" save writes), with quoted free text that spans lines.
The connector detects and records the encoding and the delimiter, never guesses a value's meaning, and keeps every
cell as the exact string sent: interpretation is the transform's job.

A narrative can be long: a field of up to ``PSIRF_MAX_FIELD_CHARS`` characters (default 1 MiB) is read; a longer
one quarantines its row alone (``field.too_long``), not the file. Only a field beyond the parser's hard limit
(:data:`CSV_HARD_LIMIT`, far beyond any narrative) rejects the file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from connectors.base import Malformed, RawBatch
from connectors.encoding import ENCODING_NAMES, UTF16_BOMS, sniff_encoding
from psirf.errors import BatchRejected

CSV_HARD_LIMIT = 64 * 1024 * 1024
"""The CSV parser's own field limit (characters): a field beyond it cannot be read at all, and rejects the file."""


def max_field_chars() -> int:
    """``PSIRF_MAX_FIELD_CHARS`` (default 1,048,576): the longest field loaded; a longer one quarantines its row."""
    value = int(os.environ.get("PSIRF_MAX_FIELD_CHARS", str(1024 * 1024)))
    if not 1 <= value < CSV_HARD_LIMIT:
        raise ValueError(f"PSIRF_MAX_FIELD_CHARS must be between 1 and {CSV_HARD_LIMIT - 1}, not {value}")
    return value


def _lines(path: Path, encoding: str, source: str) -> Iterator[str]:
    with path.open(encoding=encoding, newline="") as fh:
        for line in fh:
            if "\x00" in line:
                hint = ("it looks like UTF-16 without a byte-order mark (Excel's Unicode Text has one): re-export it "
                        "as UTF-8 or Unicode Text" if encoding in ("utf-8", "cp1252")
                        else "this is not a text CSV export")
                raise BatchRejected(source, f"contains NUL bytes when read as {ENCODING_NAMES[encoding]}: {hint}")
            yield line


def sniff_delimiter(header_line: str) -> str:
    """Tab when the header line has more tabs than commas (Excel's Unicode Text is tab-delimited), else comma."""
    return "\t" if header_line.count("\t") > header_line.count(",") else ","


def _first_line(path: Path, encoding: str) -> str:
    with path.open(encoding=encoding, newline="") as fh:
        return fh.readline()


def iter_csv(path: Path, chunk_rows: int | None = None, group_column: str | None = None) -> Iterator[RawBatch]:
    """Stream a CSV export as raw batches of at most about ``chunk_rows`` rows (all of it when None).

    Memory stays bounded by the chunk, not the file. With ``group_column`` (one row per patient, several rows per
    record), rows sharing that column's value with the chunk's last row move to the next chunk, so a record is
    never split. Ragged rows are kept aside per chunk, not lost. A file with a header and no rows yields one
    empty batch; a malformed file raises :class:`BatchRejected`, possibly after earlier chunks were yielded.
    """
    source = str(path)
    encoding = sniff_encoding(path)
    limit = max_field_chars()
    if csv.field_size_limit() < CSV_HARD_LIMIT:
        csv.field_size_limit(CSV_HARD_LIMIT)
    reader = csv.reader(_lines(path, encoding, source), strict=False,
                        delimiter=sniff_delimiter(_first_line(path, encoding)))
    try:
        header = next(reader)
    except StopIteration:
        raise BatchRejected(source, "the file is empty", rule_id="batch.empty") from None
    columns = [" ".join(c.split()) for c in header]
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise BatchRejected(source, f"the header names these columns more than once: {dupes}")
    group_at = columns.index(group_column) if group_column in columns else None
    width = len(columns)

    def batch(rows: list[list[str]], numbers: list[int], malformed: list[tuple[int, str, str]]) -> RawBatch:
        frame = pd.DataFrame(rows, columns=columns, dtype="string") if rows else pd.DataFrame(
            {c: pd.Series(dtype="string") for c in columns})
        frame, numbers, malformed = _hold_back_long_fields(frame, numbers, malformed, limit)
        return RawBatch(source_file=source, encoding=encoding, columns=columns, frame=frame, row_numbers=numbers,
                        malformed=malformed)

    rows: list[list[str]] = []
    row_numbers: list[int] = []
    malformed: list[tuple[int, str, str]] = []
    row_number = 1
    yielded = False
    try:
        for record in reader:
            row_number += 1
            if len(record) <= 1 and all(not cell.strip() for cell in record):
                row_number -= 1  # blank line: not a row (a spreadsheet would not show it either)
                continue
            if len(record) != width:
                malformed.append(Malformed(row_number, "row.malformed", f"{len(record)} fields where the header has "
                                                                        f"{width}"))
                continue
            rows.append(record)
            row_numbers.append(row_number)
            if chunk_rows is not None and len(rows) >= chunk_rows:
                cut = len(rows)
                if group_at is not None:  # keep the last record's rows together
                    last = rows[-1][group_at].strip()
                    while cut > 1 and rows[cut - 1][group_at].strip() == last:
                        cut -= 1
                    if cut == 1 and rows[0][group_at].strip() == last:
                        continue  # one record fills the chunk: let it grow
                yield batch(rows[:cut], row_numbers[:cut], malformed)
                yielded = True
                rows, row_numbers, malformed = rows[cut:], row_numbers[cut:], []
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise BatchRejected(source, f"near row {row_number + 1} a field is longer than {CSV_HARD_LIMIT:,} "
                                        f"characters: not an incident export") from None
        raise BatchRejected(source, f"is not valid CSV near row {row_number + 1}: {exc}") from None
    if rows or malformed or not yielded:
        yield batch(rows, row_numbers, malformed)


def _hold_back_long_fields(frame: pd.DataFrame, numbers: list[int], malformed: list[tuple[int, str, str]],
                           limit: int) -> tuple[pd.DataFrame, list[int], list[tuple[int, str, str]]]:
    """Rows with a field longer than ``limit`` characters move to ``malformed`` (quarantined with
    ``field.too_long``, naming the column and the length, never the value); found column-wise."""
    if frame.empty:
        return frame, numbers, malformed
    lengths = pd.DataFrame({c: frame[c].str.len() for c in frame.columns}).fillna(0)
    too_long = lengths > limit
    bad = too_long.any(axis=1).to_numpy()
    if not bad.any():
        return frame, numbers, malformed
    held = list(malformed)
    for i in bad.nonzero()[0].tolist():
        column = str(too_long.columns[too_long.iloc[i].to_numpy().argmax()])
        held.append(Malformed(numbers[i], "field.too_long", f"column {column!r} has {int(lengths.iloc[i][column]):,} "
                                                            f"characters, more than the limit of {limit:,}", column))
    keep = ~bad
    return (frame[keep].reset_index(drop=True), [n for n, k in zip(numbers, keep.tolist(), strict=True) if k],
            held)


def count_rows_leniently(path: Path) -> int:
    """Data rows in a CSV file that could not be read properly (undecodable, NUL bytes, broken quoting), so the
    ledger still counts every row of a rejected batch: decoded with replacement characters, NUL bytes dropped,
    parsed without limits, blank lines skipped; physical lines when even that fails. Header excluded."""
    data = path.read_bytes()
    if data.startswith(UTF16_BOMS):
        text = data.decode("utf-16", errors="replace")
    else:
        text = data.decode("utf-8-sig", errors="replace")
    text = text.replace("\x00", "")
    lines = text.splitlines()
    if csv.field_size_limit() < CSV_HARD_LIMIT:
        csv.field_size_limit(CSV_HARD_LIMIT)
    try:
        records = sum(1 for r in csv.reader(lines, delimiter=sniff_delimiter(lines[0] if lines else ""))
                      if any(cell.strip() for cell in r))
    except csv.Error:
        records = sum(1 for line in lines if line.strip())
    return max(records - 1, 0)


def read_csv(path: Path) -> RawBatch:
    """Read a CSV export into strings, handling quoted multi-line fields; ragged rows are kept aside, not lost."""
    return next(iter_csv(path))
