"""A source family added the documented way, for tests: one folder exporting ``FAMILY`` (and one registry line,
which the test adds with :func:`connectors.registry.register`). Pipe-delimited text exports, UTF-8 or Windows-1252.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from connectors.base import Malformed, RawBatch, SourceFamily
from connectors.encoding import sniff_encoding


class PipeDrop(SourceFamily):
    name = "pipe_drop"
    description = "pipe-delimited text exports dropped in a folder"

    def iter_chunks(self, path: Path, provider: Any, entity: str, profile: Any,
                    chunk_rows: int | None) -> Iterator[RawBatch]:
        encoding = sniff_encoding(path)
        with path.open(encoding=encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter="|")
            header = next(reader)
            rows, numbers, malformed = [], [], []
            for number, record in enumerate(reader, start=2):
                if len(record) != len(header):
                    malformed.append(Malformed(number, "row.malformed", f"{len(record)} fields, header {len(header)}"))
                    continue
                rows.append(record)
                numbers.append(number)
        frame = pd.DataFrame(rows, columns=header, dtype="string")
        yield RawBatch(source_file=str(path), encoding=encoding, columns=header, frame=frame, row_numbers=numbers,
                       malformed=malformed)


FAMILY = PipeDrop()
