"""CSV drops: read a provider's export file into a raw string table (the family itself is :mod:`.family`).

Datix-style listing exports arrive as Windows-1252 or UTF-8 (with or without a byte-order mark), or as UTF-16 with
a byte-order mark, tab-delimited (what Excel's "Unicode Text" save writes), with quoted free text that spans lines.
The connector detects and records the encoding and the delimiter, never guesses a value's meaning, and keeps every
cell as the exact string sent: interpretation is the transform's job.

A narrative can be long: a field of up to ``PSIRF_MAX_FIELD_CHARS`` characters (default 1 MiB) is read; a longer
one quarantines its row alone (``field.too_long``), not the file. Only a field beyond the parser's hard limit
(:data:`CSV_HARD_LIMIT`, far beyond any narrative) rejects the file.
"""

from __future__ import annotations

import bisect
import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from connectors.base import Malformed, RawBatch
from connectors.encoding import ENCODING_NAMES, UTF16_BOMS, sniff
from expectations.rules import R
from psirf.errors import BatchRejected

CSV_HARD_LIMIT = 64 * 1024 * 1024
"""The CSV parser's own field limit (characters): a field beyond it cannot be read at all, and rejects the file."""


def max_field_chars() -> int:
    """``PSIRF_MAX_FIELD_CHARS`` (default 1,048,576): the longest field loaded; a longer one quarantines its row."""
    value = int(os.environ.get("PSIRF_MAX_FIELD_CHARS", str(1024 * 1024)))
    if not 1 <= value < CSV_HARD_LIMIT:
        raise ValueError(f"PSIRF_MAX_FIELD_CHARS must be between 1 and {CSV_HARD_LIMIT - 1}, not {value}")
    return value


def _nul_rejection(source: str, encoding: str) -> BatchRejected:
    hint = ("it looks like UTF-16 without a byte-order mark (Excel's Unicode Text has one): re-export it as UTF-8 or "
            "Unicode Text" if encoding in ("utf-8", "cp1252") else "this is not a text CSV export")
    return BatchRejected(source, f"contains NUL bytes when read as {ENCODING_NAMES[encoding]}: {hint}")


def sniff_delimiter(header_line: str) -> str:
    """Tab when the header line has more tabs than commas (Excel's Unicode Text is tab-delimited), else comma."""
    return "\t" if header_line.count("\t") > header_line.count(",") else ","


def _header(path: Path, encoding: str) -> tuple[list[str], str] | None:
    """The header record as the file writes it, and the delimiter; None for a file with no record at all."""
    with path.open(encoding=encoding, newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        delimiter = sniff_delimiter(first)
        try:
            header = next(csv.reader(fh, strict=False, delimiter=delimiter), None)
        except csv.Error as exc:
            raise BatchRejected(str(path), f"is not valid CSV near row 1: {exc}") from None
    return (header, delimiter) if header is not None else None


class _RowNumbers:
    """Spreadsheet row numbers (header = row 1) for the records Arrow parses, and the ragged rows it sets aside.

    Arrow numbers every record it reads (header = 1, empty lines not counted) and hands ragged ones to
    :meth:`invalid`, in file order, before the batch holding the records after them is returned. A record that is
    only whitespace is no row at all (a spreadsheet would not show it), so the numbers after it move up by one, as
    they do in Python's csv module.
    """

    def __init__(self, width: int, delimiter: str) -> None:
        self.width, self.delimiter = width, delimiter
        self.ragged: list[tuple[int, int]] = []  # (Arrow's record number, fields) not yet handed out
        self.blank: list[int] = []  # Arrow's numbers of whitespace-only records, ascending
        self.next = 2  # Arrow's number of the next record
        self.set_aside: set[int] = set()  # numbers the parser handed to invalid() and left out of its batches
        self.unknown = False

    def invalid(self, row: pa_csv.InvalidRow) -> str:
        if row.number is None:
            self.unknown = True
            return "skip"
        self.set_aside.add(row.number)
        cells = next(csv.reader([row.text], delimiter=self.delimiter), [""])
        if row.actual_columns <= 1 and all(not cell.strip() for cell in cells):
            self.blank.append(row.number)
        else:
            self.ragged.append((row.number, row.actual_columns))
        return "skip"

    def spreadsheet(self, number: int) -> int:
        return number - bisect.bisect_left(self.blank, number)

    def take(self, count: int) -> tuple[list[int], list[tuple[int, int]]]:
        """Arrow's numbers of the next ``count`` good records, and the ragged ones among and before them."""
        ragged = {x for x in self.set_aside if x >= self.next}
        self.set_aside = ragged
        n = self.next
        if not ragged or min(ragged) >= n + count:
            numbers = list(range(n, n + count))
            n += count
        else:
            numbers = []
            while len(numbers) < count:
                if n not in ragged:
                    numbers.append(n)
                n += 1
        self.next = n
        before = [r for r in self.ragged if r[0] < n]
        self.ragged = [r for r in self.ragged if r[0] >= n]
        return numbers, before


def iter_csv(path: Path, chunk_rows: int | None = None, group_column: str | None = None) -> Iterator[RawBatch]:
    """Stream a CSV export as raw batches of at most about ``chunk_rows`` rows (all of it when None).

    One pass of Arrow's CSV parser (after one strict decoding pass that detects the encoding; Windows-1252 and
    UTF-16 are transcoded as they stream). Memory stays bounded by the chunk and the parser's block, not the
    file. With ``group_column`` (one row per patient, several rows per record), rows sharing that column's value
    with the chunk's last row move to the next chunk, so a record is never split. Ragged rows are kept aside, not
    lost, with their row numbers. A file with a header and no rows yields one empty batch; a malformed file raises
    :class:`BatchRejected`, possibly after earlier chunks were yielded.
    """
    source = str(path)
    sniffed = sniff(path)
    encoding = sniffed.encoding
    if sniffed.has_nul:
        raise _nul_rejection(source, encoding)
    limit = max_field_chars()
    found = _header(path, encoding)
    if found is None:
        raise BatchRejected(source, "the file is empty", rule_id=R.BATCH__EMPTY)
    header, delimiter = found
    columns = [" ".join(c.split()) for c in header]
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise BatchRejected(source, f"the header names these columns more than once: {dupes}")
    width = len(columns)
    numbers = _RowNumbers(width, delimiter)
    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(use_threads=False, block_size=_BLOCK_BYTES,
                                            encoding=_ARROW_ENCODING.get(encoding, encoding)),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                              escape_char=False, newlines_in_values=True, ignore_empty_lines=True,
                                              invalid_row_handler=numbers.invalid),
            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()),
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                  null_values=[], check_utf8=False))
    except pa.ArrowInvalid as exc:
        raise _parse_rejection(source, exc, 1) from None
    if reader.schema.names != header:
        raise BatchRejected(source, f"is not valid CSV near row 1: its header reads as {reader.schema.names}")
    group_at = columns.index(group_column) if group_column in columns else None
    chunks = _Chunker(source, encoding, columns, chunk_rows, group_at, limit)
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise _parse_rejection(source, exc, numbers.spreadsheet(numbers.next)) from None
        if numbers.unknown:
            raise BatchRejected(source, "the CSV parser could not number its rows")  # never with use_threads off
        arrow_numbers, ragged = numbers.take(batch.num_rows)
        if width == 1 and batch.num_rows:  # one column: a whitespace-only record is a blank line, not a row
            keep = pc.invert(pc.equal(pc.utf8_trim(batch.column(0), _PY_WHITESPACE), "")).to_pylist()
            if not all(keep):
                for n in (n for n, k in zip(arrow_numbers, keep, strict=True) if not k):
                    bisect.insort(numbers.blank, n)
                arrow_numbers = [n for n, k in zip(arrow_numbers, keep, strict=True) if k]
                batch = batch.filter(pa.array(keep))
        rows = [numbers.spreadsheet(n) for n in arrow_numbers] if numbers.blank else arrow_numbers
        yield from chunks.add(batch, rows, _ragged(numbers, ragged, width))
    _, ragged = numbers.take(0)
    yield from chunks.finish(_ragged(numbers, ragged + numbers.ragged, width))


def _ragged(numbers: _RowNumbers, ragged: list[tuple[int, int]], width: int) -> list[tuple[int, str, str]]:
    return [Malformed(numbers.spreadsheet(n), R.ROW__MALFORMED, f"{fields} fields where the header has {width}")
            for n, fields in ragged]


_PY_WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
"""What Python's ``str.strip()`` strips (Arrow's own whitespace set differs at the edges)."""
_BLOCK_BYTES = CSV_HARD_LIMIT + (1 << 20)
"""Arrow's parse block: a record must fit in one, so a field up to the hard limit can still be read."""
_ARROW_ENCODING = {"utf-8-sig": "utf8"}  # Arrow skips the UTF-8 byte-order mark itself


def _parse_rejection(source: str, exc: Exception, row: int) -> BatchRejected:
    if "straddling" in str(exc) or "block" in str(exc):
        return BatchRejected(source, f"near row {row} a field is longer than {CSV_HARD_LIMIT:,} characters: not an "
                                     f"incident export")
    return BatchRejected(source, f"is not valid CSV near row {row}: {exc}")


class _Chunker:
    """Cuts the parsed records into chunks of ``chunk_rows`` exactly where the line-by-line reader did: a chunk
    ends once it holds ``chunk_rows`` rows, moved back to the start of its last record's run of rows when records
    span rows (``group_at``), growing instead when one record fills it."""

    def __init__(self, source: str, encoding: str, columns: list[str], chunk_rows: int | None, group_at: int | None,
                 limit: int) -> None:
        self.source, self.encoding, self.columns = source, encoding, columns
        self.chunk_rows, self.group_at, self.limit = chunk_rows, group_at, limit
        self.pending: list[pa.RecordBatch] = []
        self.rows: list[int] = []
        self.malformed: list[tuple[int, str, str]] = []
        self.yielded = False

    def add(self, batch: pa.RecordBatch, rows: list[int], malformed: list[tuple[int, str, str]]
            ) -> Iterator[RawBatch]:
        self.pending.append(batch)
        self.rows += rows
        self.malformed += malformed
        if self.chunk_rows is None:
            return
        while len(self.rows) >= self.chunk_rows:
            table = pa.Table.from_batches(self.pending)
            cut = self._cut(table)
            if cut is None:
                return
            yield self._batch(table.slice(0, cut), self.rows[:cut], self._malformed_before(self.rows[cut - 1]))
            rest = table.slice(cut)
            self.pending, self.rows = rest.to_batches(), self.rows[cut:]

    def _cut(self, table: pa.Table) -> int | None:
        """Where the chunk ends (exclusive), or None while one record fills everything read so far."""
        end = self.chunk_rows or 0  # the row that made the chunk full, exclusive
        if self.group_at is None:
            return end
        keys = pc.utf8_trim(table.column(self.group_at), _PY_WHITESPACE).to_pylist()
        while end <= len(keys):
            last = keys[end - 1]
            cut = end
            while cut > 1 and keys[cut - 1] == last:
                cut -= 1
            if not (cut == 1 and keys[0] == last):
                return cut
            end += 1  # one record fills the chunk: let it grow
        return None

    def _malformed_before(self, row: int) -> list[tuple[int, str, str]]:
        taken = [m for m in self.malformed if m[0] <= row]
        self.malformed = [m for m in self.malformed if m[0] > row]
        return taken

    def finish(self, malformed: list[tuple[int, str, str]]) -> Iterator[RawBatch]:
        self.malformed += malformed
        if self.rows or self.malformed or not self.yielded:
            table = pa.Table.from_batches(self.pending) if self.pending else None
            yield self._batch(table, self.rows, sorted(self.malformed))

    def _batch(self, table: pa.Table | None, rows: list[int], malformed: list[tuple[int, str, str]]) -> RawBatch:
        self.yielded = True
        if table is not None and table.num_rows:
            frame = pd.DataFrame({c: pd.arrays.ArrowStringArray(table.column(i).cast(pa.large_string()))
                                  for i, c in enumerate(self.columns)})
        else:
            frame = pd.DataFrame({c: pd.Series(dtype="string") for c in self.columns})
        frame, rows, malformed = _hold_back_long_fields(frame, rows, malformed, self.limit)
        return RawBatch(source_file=self.source, encoding=self.encoding, columns=self.columns, frame=frame,
                        row_numbers=rows, malformed=malformed)


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
        held.append(Malformed(numbers[i], R.FIELD__TOO_LONG, f"column {column!r} has {int(lengths.iloc[i][column]):,} "
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
