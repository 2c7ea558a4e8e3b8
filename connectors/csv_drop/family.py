"""The CSV drop family: listing-report exports (Datix Web and similar) dropped in a folder, found by glob."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.base import RawBatch, SourceFamily
from connectors.csv_drop.reader import count_rows_leniently, iter_csv

if TYPE_CHECKING:
    from psirf.registry import Provider
    from transforms.profile import MappingProfile


class CsvDrop(SourceFamily):
    name = "csv_drop"
    description = "CSV (or tab-delimited Unicode Text) exports dropped in a folder"

    def iter_chunks(self, path: Path, provider: Provider, entity: str, profile: MappingProfile,
                    chunk_rows: int | None) -> Iterator[RawBatch]:
        """Streams the file: memory follows the chunk, not the file (the backfill format)."""
        mapping = profile.entity(entity).columns
        # One row per patient: a record's rows must stay in one chunk (they stand or fall together).
        group = mapping.get("source_record_id") if "patient_sequence" in mapping else None
        yield from iter_csv(path, chunk_rows, group_column=group)

    def count_unreadable(self, path: Path) -> int:
        try:
            return count_rows_leniently(path)
        except OSError:
            return 0


FAMILY = CsvDrop()
