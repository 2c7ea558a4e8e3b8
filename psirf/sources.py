"""Which connector reads a provider's batch, by source family: the one place that knows all the families.

File drops (CSV, Excel, LFPSE FHIR) are discovered by glob; REST APIs are pulled into a landing file first (so a
batch is always a file with a checksum, whatever its origin), and the landing file is deleted once the batch has
been loaded, because it still holds identifiers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.excel import ExcelSheetConfig, read_excel
from connectors.filedrop import RawBatch, count_rows_leniently, iter_csv, read_csv
from psirf.errors import ConfigError
from psirf.registry import Provider
from transforms.fields import ENTITY_FIELDS, FieldKind
from transforms.profile import MappingProfile


def date_formats(profile: MappingProfile, entity: str) -> dict[str, str]:
    """Source column -> the date layout the profile expects, so Excel date cells are written back that way."""
    spec = ENTITY_FIELDS[entity]
    formats: dict[str, str] = {}
    for fld, column in profile.entity(entity).columns.items():
        kind = spec[fld].kind
        if kind in (FieldKind.DATE, FieldKind.DATE_OF_BIRTH):
            formats[column] = profile.date_format
        elif kind is FieldKind.DATETIME:
            formats[column] = profile.datetime_format
    return formats


def read_batch(path: Path, provider: Provider, entity: str, profile: MappingProfile) -> RawBatch:
    """Read one batch file with the connector of the provider's source family."""
    if provider.source_type == "csv_drop":
        return read_csv(path)
    if provider.source_type == "excel_drop":
        return read_excel(path, ExcelSheetConfig(sheet=provider.feed.sheets.get(entity),
                                                 date_formats=date_formats(profile, entity)))
    if provider.source_type == "lfpse_fhir_drop":
        from connectors.lfpse_fhir import read_fhir

        return renumber_rows(read_fhir(path, local_reference=profile.fhir_local_reference))
    if provider.source_type == "rest_api":
        return read_landing(path)
    raise ConfigError(f"{provider.ods_code}: no reader for source type {provider.source_type!r}")


def count_unreadable_rows(path: Path, provider: Provider) -> int:
    """Rows of a batch file its reader rejected (undecodable, NUL bytes, broken quoting), for the ledger: CSV rows
    counted leniently, NDJSON lines; 0 for a workbook or FHIR document that cannot be opened at all."""
    try:
        if provider.source_type == "csv_drop":
            return count_rows_leniently(path)
        if provider.source_type in ("rest_api", "lfpse_fhir_drop") and path.suffix.lower() in (".ndjson", ".jsonl"):
            with path.open("rb") as fh:
                return sum(1 for line in fh if line.strip())
    except OSError:
        return 0
    return 0


def iter_batch(path: Path, provider: Provider, entity: str, profile: MappingProfile,
               chunk_rows: int | None) -> Iterator[RawBatch]:
    """A batch file in chunks of about ``chunk_rows`` rows, so memory does not grow with the file: CSV exports
    (the backfill format) and REST landing files stream; Excel workbooks and FHIR bundles are parsed whole by
    their libraries, then passed on as one chunk."""
    if provider.source_type == "csv_drop":
        mapping = profile.entity(entity).columns
        # One row per patient: a record's rows must stay in one chunk (they stand or fall together).
        group = mapping.get("source_record_id") if "patient_sequence" in mapping else None
        yield from iter_csv(path, chunk_rows, group_column=group)
    elif provider.source_type == "rest_api":
        yield from iter_landing(path, chunk_rows)
    elif provider.source_type == "lfpse_fhir_drop" and chunk_rows is not None:
        from connectors.lfpse_fhir import iter_fhir

        offset = 0
        for chunk in iter_fhir(path, chunk_rows, local_reference=profile.fhir_local_reference):
            batch = renumber_rows(chunk, always=True, offset=offset)
            offset += len(batch.row_numbers) + len(batch.malformed)
            yield batch
    else:
        yield read_batch(path, provider, entity, profile)


def renumber_rows(batch: RawBatch, *, always: bool = False, offset: int = 0) -> RawBatch:
    """Give every row its own number when several share one (FHIR: all patient rows of an event share the event's
    entry number), keeping file order, so each row can be quarantined and counted on its own.

    ``always`` numbers rows 1, 2, … (plus ``offset``) even when they are already distinct: a file read in chunks
    cannot know whether a later chunk will need it, so its rows are numbered the same way in every chunk."""
    numbers = list(batch.row_numbers)
    if not always and len(set(numbers)) == len(numbers) and not set(numbers) & {m[0] for m in batch.malformed}:
        return batch
    order = sorted([(n, 0, i) for i, n in enumerate(numbers)] + [(m[0], 1, i) for i, m in enumerate(batch.malformed)])
    new_rows = [0] * len(numbers)
    new_malformed = list(batch.malformed)
    for ordinal, (_, kind, i) in enumerate(order, start=1 + offset):
        if kind == 0:
            new_rows[i] = ordinal
        else:
            new_malformed[i] = (ordinal, *batch.malformed[i][1:])
    batch.row_numbers = new_rows
    batch.malformed = new_malformed
    return batch


# --- REST APIs: pull into a landing file ----------------------------------------------------------------------

@dataclass
class Landed:
    path: Path
    checksum: str
    records: int
    repeated: int  # records served twice across pages (e.g. offset paging shifted by an insert): duplicates
    watermark: dt.datetime | None
    source: str


HeldVersions = Callable[[list[str]], dict[str, "dt.datetime | None"]]


def land_api_records(provider: Provider, entity: str, since: dt.datetime | None, landing_dir: Path,
                     batch_id: str, held_versions: HeldVersions | None = None) -> Landed | None:
    """Pull an entity's new records from the provider's API into ``landing_dir``; None when there are none.

    The request is inclusive at the watermark (and looks back further), so records already loaded come back;
    those the warehouse already holds at the same cursor value are dropped here, so a rerun finds nothing new.
    """
    from connectors.credentials import resolve
    from connectors.rest_api import RestApiConfig, extract, parse_cursor

    assert provider.api is not None
    config = RestApiConfig.from_dict(provider.ods_code, provider.api)
    credentials = resolve(config.auth.conn_id) if config.auth.conn_id else None
    result = extract(config, entity, credentials, since)
    endpoint = config.endpoint(entity)
    if since is not None and endpoint.cursor_field and held_versions is not None and result.records:
        ids = [str(r.get(endpoint.primary_key)) for r in result.records]
        held = held_versions(ids)
        result.records = [r for r, key in zip(result.records, ids, strict=True)
                          if key not in held or held[key] is None
                          or parse_cursor(r.get(endpoint.cursor_field), endpoint.cursor_format) != held[key]]
    if not result.records:
        return None
    landing_dir.mkdir(parents=True, exist_ok=True)
    path = landing_dir / f"{entity}_{batch_id}.jsonl"
    payload = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True, default=str) + "\n" for r in result.records)
    path.write_text(payload, encoding="utf-8")
    # The checksum is of the content, not the file name: the same records pulled twice are the same batch.
    checksum = hashlib.sha256(payload.encode("utf-8")).hexdigest()
    return Landed(path=path, checksum=checksum, records=len(result.records),
                  repeated=int(getattr(result, "repeated_across_pages", 0)), watermark=result.max_cursor,
                  source=result.source)


def iter_landing(path: Path, chunk_rows: int | None) -> Iterator[RawBatch]:
    """A landing file (JSON lines) in chunks; every chunk has the columns of the whole file, in first-seen order,
    and row numbers that continue across chunks, so chunks are parts of one table."""
    from connectors.rest_api import flattened_keys, records_to_raw_batch

    if chunk_rows is None:
        yield read_landing(path)
        return
    columns: dict[str, None] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                columns.update(dict.fromkeys(flattened_keys(json.loads(line))))
    cols = list(columns)
    offset = 0
    chunk: list[dict[str, Any]] = []

    def part() -> RawBatch:
        batch = records_to_raw_batch(chunk, str(path))
        batch.frame = batch.frame.reindex(columns=cols, fill_value="").astype("string")
        batch.columns = cols
        batch.row_numbers = [offset + n for n in batch.row_numbers]
        batch.encoding = "json"
        return batch

    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            chunk.append(json.loads(line))
            if len(chunk) >= chunk_rows:
                yield part()
                offset += len(chunk)
                chunk = []
    if chunk or offset == 0:
        yield part()


def read_landing(path: Path) -> RawBatch:
    from connectors.rest_api import records_to_raw_batch

    records: list[dict[str, Any]] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                                     if line.strip()]
    batch = records_to_raw_batch(records, str(path))
    batch.encoding = "json"
    return batch
