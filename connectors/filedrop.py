"""CSV file-drop connector: finds a provider's export files and reads them into raw string tables.

Datix-style listing exports arrive as Windows-1252 or UTF-8 (with or without a byte-order mark), with quoted
free text that spans lines. The connector detects and records the encoding, never guesses a value's meaning,
and keeps every cell as the exact string sent: interpretation is the transform's job.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from psirf.errors import BatchRejected

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class FileDropConfig:
    """Where one provider drops its files: a folder and, per entity, a glob of file names."""

    provider_ods: str
    path: Path
    globs: dict[str, str]


@dataclass(frozen=True)
class SourceFile:
    path: Path
    entity: str
    checksum: str  # SHA-256 of the bytes: the same file re-sent is recognised and skipped
    size: int


@dataclass
class RawBatch:
    """One file's rows as strings. ``row_numbers`` are spreadsheet row numbers (header = row 1)."""

    source_file: str
    encoding: str
    columns: list[str]
    frame: pd.DataFrame
    row_numbers: list[int]
    # Rows that cannot become canonical rows at all: (row number, rule id, what was wrong). They are quarantined.
    malformed: list[tuple[int, str, str]] = field(default_factory=list)


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def discover(config: FileDropConfig, skip_checksums: Iterable[str] = ()) -> list[SourceFile]:
    """Files matching each entity's glob, oldest name first, minus those whose checksum was already loaded."""
    skip = set(skip_checksums)
    found: list[SourceFile] = []
    for entity, pattern in config.globs.items():
        for path in sorted(config.path.glob(pattern)):
            if not path.is_file():
                continue
            checksum = file_checksum(path)
            if checksum in skip:
                continue
            found.append(SourceFile(path=path, entity=entity, checksum=checksum, size=path.stat().st_size))
    return found


def detect_encoding(data: bytes, source: str) -> str:
    """``utf-8-sig`` when a BOM is present, else ``utf-8`` if it decodes strictly, else ``cp1252`` if that does.

    A file that is none of these is rejected rather than decoded with replacement characters.
    """
    if data.startswith(UTF8_BOM):
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BatchRejected(source, f"starts with a UTF-8 byte-order mark but is not valid UTF-8 "
                                        f"(byte {exc.start})") from None
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError as exc:
        raise BatchRejected(source, f"cannot be decoded as UTF-8 or Windows-1252 (byte 0x{data[exc.start]:02x} "
                                    f"at offset {exc.start}); re-export it as UTF-8") from None


_BLOCK = 1 << 20


def sniff_encoding(path: Path) -> str:
    """:func:`detect_encoding` without holding the file in memory: decode it block by block, strictly.

    A file that fails is read whole once more, only to name the offending byte exactly in the rejection.
    """
    source = str(path)
    with path.open("rb") as fh:
        head = fh.read(len(UTF8_BOM))
    has_text = False
    for encoding in (("utf-8-sig",) if head == UTF8_BOM else ("utf-8", "cp1252")):
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        try:
            with path.open("rb") as fh:
                while block := fh.read(_BLOCK):
                    has_text = has_text or bool(block.strip())
                    decoder.decode(block)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        if not has_text:
            raise BatchRejected(source, "the file is empty")
        return encoding
    return detect_encoding(path.read_bytes(), source)  # raises, naming the byte and its offset


def _lines(path: Path, encoding: str, source: str) -> Iterator[str]:
    with path.open(encoding=encoding, newline="") as fh:
        for line in fh:
            if "\x00" in line:
                raise BatchRejected(source, "contains NUL bytes: this is not a text CSV export")
            yield line


def iter_csv(path: Path, chunk_rows: int | None = None, group_column: str | None = None) -> Iterator[RawBatch]:
    """Stream a CSV export as raw batches of at most about ``chunk_rows`` rows (all of it when None).

    Memory stays bounded by the chunk, not the file. With ``group_column`` (one row per patient, several rows per
    record), rows sharing that column's value with the chunk's last row move to the next chunk, so a record is
    never split. Ragged rows are kept aside per chunk, not lost. A file with a header and no rows yields one
    empty batch; a malformed file raises :class:`BatchRejected`, possibly after earlier chunks were yielded.
    """
    source = str(path)
    encoding = sniff_encoding(path)
    reader = csv.reader(_lines(path, encoding, source), strict=False)
    try:
        header = next(reader)
    except StopIteration:
        raise BatchRejected(source, "the file is empty") from None
    columns = [" ".join(c.split()) for c in header]
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise BatchRejected(source, f"the header names these columns more than once: {dupes}")
    group_at = columns.index(group_column) if group_column in columns else None
    width = len(columns)

    def batch(rows: list[list[str]], numbers: list[int], malformed: list[tuple[int, str, str]]) -> RawBatch:
        frame = pd.DataFrame(rows, columns=columns, dtype="string") if rows else pd.DataFrame(
            {c: pd.Series(dtype="string") for c in columns})
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
                malformed.append((row_number, "row.malformed", f"{len(record)} fields where the header has {width}"))
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
        raise BatchRejected(source, f"is not valid CSV near row {row_number + 1}: {exc}") from None
    if rows or malformed or not yielded:
        yield batch(rows, row_numbers, malformed)


def read_csv(path: Path) -> RawBatch:
    """Read a CSV export into strings, handling quoted multi-line fields; ragged rows are kept aside, not lost."""
    return next(iter_csv(path))
