"""The LFPSE FHIR drop family: ``AdverseEvent`` exports (single resources, Bundles, NDJSON) dropped in a folder.

What is read, and how leniently, is the reader's (:mod:`.reader`); which taxonomy versions are accepted and how
the values map to the canonical model is the mapping profile's (``config/profiles/lfpse_fhir_v5.toml``). A variant
of this family (another LFPSE export, e.g. a trust's copy of the national record) is a subclass or another
instance with its own ``supported_versions``, registered under its own name in :mod:`connectors.registry`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from connectors.base import (
    Malformed,
    RawBatch,
    RawSpec,
    RawSummary,
    SourceFamily,
    concat_results,
    count_nonblank_lines,
    field_of,
)
from connectors.lfpse_fhir_drop.reader import SUPPORTED_TAXONOMY_VERSIONS, iter_fhir, read_fhir
from expectations.rules import R

if TYPE_CHECKING:
    from psirf.registry import Provider
    from transforms.profile import MappingProfile

# The raw layer's FHIR checks: rule -> the field its result is reported under. A record failing one is quarantined
# by the reader (``RawBatch.malformed``); here each is measured over every record of the file.
PROFILE_RULES = {R.FHIR__INVALID_JSON: "json", R.FHIR__NOT_ADVERSE_EVENT: "resourceType",
                 R.FHIR__NOT_LFPSE: "meta.profile", R.FHIR__UNSUPPORTED_TAXONOMY: "taxonomy version",
                 R.FHIR__MIXED_TAXONOMY: "taxonomy version", R.FHIR__UNSUPPORTED_ENTRY: "request.method"}
ELEMENT_RULES = (R.FHIR__MISSING_ELEMENT, R.FHIR__INVALID_VALUE)


def renumber_rows(batch: RawBatch, *, always: bool = False, offset: int = 0) -> RawBatch:
    """Give every row its own number when several share one (FHIR: all patient rows of an event share the event's
    entry number), keeping file order, so each row can be quarantined and counted on its own.

    ``always`` numbers rows 1, 2, … (plus ``offset``) even when they are already distinct: a file read in chunks
    cannot know whether a later chunk will need it, so its rows are numbered the same way in every chunk. A note
    on a record moves to the record's first row."""
    numbers = list(batch.row_numbers)
    if not always and len(set(numbers)) == len(numbers) and not set(numbers) & {m[0] for m in batch.malformed}:
        return batch
    order = sorted([(n, 0, i) for i, n in enumerate(numbers)] + [(m[0], 1, i) for i, m in enumerate(batch.malformed)])
    new_rows = [0] * len(numbers)
    new_malformed = list(batch.malformed)
    first: dict[int, int] = {}
    for ordinal, (old, kind, i) in enumerate(order, start=1 + offset):
        if kind == 0:
            new_rows[i] = ordinal
            first.setdefault(old, ordinal)
        else:
            old_m = batch.malformed[i]
            new_malformed[i] = Malformed(ordinal, old_m[1], old_m[2], field_of(old_m))
    batch.row_numbers = new_rows
    batch.malformed = new_malformed
    batch.notes = [replace(n, row_number=first.get(n.row_number, n.row_number)) for n in batch.notes]
    return batch


class LfpseFhirDrop(SourceFamily):
    name = "lfpse_fhir_drop"
    description = "LFPSE FHIR AdverseEvent exports (JSON, Bundles, NDJSON) dropped in a folder"
    encodings = ("utf-8", "utf-8-sig")
    supported_versions: frozenset[int] = SUPPORTED_TAXONOMY_VERSIONS

    def iter_chunks(self, path: Path, provider: Provider, entity: str, profile: MappingProfile,
                    chunk_rows: int | None) -> Iterator[RawBatch]:
        """NDJSON streams line by line; a single JSON document (a resource or a Bundle) is parsed whole."""
        if chunk_rows is None:
            yield renumber_rows(read_fhir(path, self.supported_versions, profile.fhir_local_reference))
            return
        offset = 0
        for chunk in iter_fhir(path, chunk_rows, self.supported_versions, profile.fhir_local_reference):
            batch = renumber_rows(chunk, always=True, offset=offset)
            offset += len(batch.row_numbers) + len(batch.malformed)
            yield batch

    def count_unreadable(self, path: Path) -> int:
        if path.suffix.lower() not in (".ndjson", ".jsonl"):
            return 0
        return count_nonblank_lines(path)

    def raw_checks(self, summary: RawSummary, spec: RawSpec) -> pd.DataFrame:
        """The raw suite over the rows, plus per record of the file: LFPSE profile and taxonomy version (a
        supported one, the same throughout), the elements the ICB needs (missing, or of the wrong shape; per
        element when named), and the raw-layer warnings (version time or event type read leniently)."""
        from expectations.raw_suites import row_result

        records = summary.records
        results = [row_result(spec.entity, rule_id, fld, records, _failed(summary, rule_id))
                   for rule_id, fld in PROFILE_RULES.items()]
        for rule_id in ELEMENT_RULES:
            elements = sorted({f for (r, f) in summary.malformed if r == rule_id and f})
            unnamed = summary.malformed.get((rule_id, None), 0)
            results.append(row_result(spec.entity, rule_id, None, records, unnamed))
            results += [row_result(spec.entity, rule_id, f, records, summary.malformed[(rule_id, f)])
                        for f in elements]
        return concat_results([super().raw_checks(summary, spec), *results])


def _failed(summary: RawSummary, rule_id: str) -> int:
    return sum(n for (r, _), n in summary.malformed.items() if r == rule_id)


FAMILY = LfpseFhirDrop()
