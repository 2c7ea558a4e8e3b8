"""The Excel drop family: ``.xlsx`` workbooks dropped in a folder, one sheet per entity
(``[provider.feed.sheets]``; the first sheet when none is named)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from connectors.base import RawBatch, RawSpec, RawSummary, SourceFamily, concat_results
from connectors.excel_drop.reader import ExcelSheetConfig, read_excel
from expectations.rules import R

if TYPE_CHECKING:
    from psirf.registry import Provider
    from transforms.profile import MappingProfile


def date_formats(profile: MappingProfile, entity: str) -> dict[str, str]:
    """Source column -> the date layout the profile expects, so Excel date cells are written back that way."""
    from transforms.fields import ENTITY_FIELDS, FieldKind

    spec = ENTITY_FIELDS[entity]
    formats: dict[str, str] = {}
    for fld, column in profile.entity(entity).columns.items():
        kind = spec[fld].kind
        if kind in (FieldKind.DATE, FieldKind.DATE_OF_BIRTH):
            formats[column] = profile.date_format
        elif kind is FieldKind.DATETIME:
            formats[column] = profile.datetime_format
    return formats


class ExcelDrop(SourceFamily):
    name = "excel_drop"
    description = "Excel workbooks (.xlsx) dropped in a folder, a sheet per entity"
    encodings = ("xlsx",)

    def iter_chunks(self, path: Path, provider: Provider, entity: str, profile: MappingProfile,
                    chunk_rows: int | None) -> Iterator[RawBatch]:
        """openpyxl parses the sheet whole: one chunk."""
        yield read_excel(path, ExcelSheetConfig(sheet=provider.feed.sheets.get(entity),
                                                date_formats=date_formats(profile, entity)))

    def raw_checks(self, summary: RawSummary, spec: RawSpec) -> pd.DataFrame:
        """The raw suite over the sheet's header and rows, plus: the entity's sheet is there (a missing sheet
        rejects the batch, under the same rule)."""
        from expectations.raw_suites import batch_result

        sheet = batch_result(spec.entity, R.RAW__SHEET_MISSING, "sheet", evaluated=1, failed=0)
        return concat_results([sheet, super().raw_checks(summary, spec)])


FAMILY = ExcelDrop()
