"""CSV file-drop connector: finds a provider's export files and reads them into raw string tables.

Datix-style listing exports arrive as Windows-1252 or UTF-8 (with or without a byte-order mark), with quoted
free text that spans lines. The connector detects and records the encoding, never guesses a value's meaning,
and keeps every cell as the exact string sent: interpretation is the transform's job.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
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


def read_csv(path: Path) -> RawBatch:
    """Read a CSV export into strings, handling quoted multi-line fields; ragged rows are kept aside, not lost."""
    source = str(path)
    data = path.read_bytes()
    if not data.strip():
        raise BatchRejected(source, "the file is empty")
    encoding = detect_encoding(data, source)
    text = data.decode(encoding)
    if "\x00" in text:
        raise BatchRejected(source, "contains NUL bytes: this is not a text CSV export")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    try:
        header = next(reader)
    except StopIteration:
        raise BatchRejected(source, "the file is empty") from None
    columns = [" ".join(c.split()) for c in header]
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise BatchRejected(source, f"the header names these columns more than once: {dupes}")
    rows: list[list[str]] = []
    row_numbers: list[int] = []
    malformed: list[tuple[int, str, str]] = []
    width = len(columns)
    row_number = 1
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
    except csv.Error as exc:
        raise BatchRejected(source, f"is not valid CSV near row {row_number + 1}: {exc}") from None
    frame = pd.DataFrame(rows, columns=columns, dtype="string") if rows else pd.DataFrame(
        {c: pd.Series(dtype="string") for c in columns})
    return RawBatch(source_file=source, encoding=encoding, columns=columns, frame=frame,
                    row_numbers=row_numbers, malformed=malformed)
