"""The REST API family: a provider's incident system pulled incrementally over HTTP (:mod:`.client`,
:mod:`.http_transport`), into a landing file per entity and run, so a batch is always a file with a checksum.

The landing file is the platform's own (it still holds identifiers): it is deleted once its batch is loaded,
rejected or given up, and swept when a killed run left it. The watermark travels with the batch and is stored in
the load's transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from connectors.base import (
    Discovered,
    ExtractState,
    RawBatch,
    RawSpec,
    RawSummary,
    SourceFamily,
    concat_results,
    count_nonblank_lines,
)
from expectations.rules import R

if TYPE_CHECKING:
    from psirf.registry import Provider
    from transforms.profile import MappingProfile

ENTITY_ORDER = ("incidents", "learning_responses", "safety_actions")  # referenced entities first


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
    from connectors.rest_api.client import RestApiConfig, extract, parse_cursor
    from connectors.rest_api.credentials import resolve

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
    from connectors.rest_api.client import flattened_keys

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
        batch = _raw(chunk, path)
        missing = {c: len(chunk) for c in cols if c not in batch.columns}  # absent from every record of the chunk
        batch.frame = batch.frame.reindex(columns=cols, fill_value="").astype("string")
        batch.columns = cols
        batch.absent = {**batch.absent, **missing} if chunk else {}
        batch.row_numbers = [offset + n for n in batch.row_numbers]
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


def _raw(records: list[dict[str, Any]], path: Path) -> RawBatch:
    from connectors.rest_api.client import records_to_raw_batch

    batch = records_to_raw_batch(records, str(path))
    batch.encoding = "json"
    return batch


def read_landing(path: Path) -> RawBatch:
    records: list[dict[str, Any]] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                                     if line.strip()]
    return _raw(records, path)


def _order(entity: str) -> int:
    return ENTITY_ORDER.index(entity) if entity in ENTITY_ORDER else len(ENTITY_ORDER)


class RestApi(SourceFamily):
    name = "rest_api"
    description = "the provider's REST API: incremental, paginated, authenticated"
    needs_api = True
    lands_files = True
    encodings = ("json",)

    def validate_config(self, ods_code: str, api: dict[str, Any] | None) -> None:
        from connectors.rest_api.client import RestApiConfig

        RestApiConfig.from_dict(ods_code, api)

    def discover(self, provider: Provider, state: ExtractState) -> list[Discovered]:
        """Each entity's records changed since its watermark, pulled into a landing file named after the batch.
        If a later entity fails, the landing files already written go (they hold identifiers)."""
        found: list[Discovered] = []
        try:
            for entity in sorted(provider.entities, key=_order):
                batch_id = str(uuid.uuid4())

                def held(ids: list[str], entity: str = entity) -> dict[str, dt.datetime | None]:
                    return state.held_versions(entity, ids)

                landed = land_api_records(provider, entity, state.watermark(entity), provider.feed.path, batch_id,
                                          held)
                if landed is None:
                    continue
                if landed.checksum in state.loaded_checksums(entity):
                    landed.path.unlink(missing_ok=True)  # a full extract identical to one already loaded
                    continue
                found.append(Discovered(path=landed.path, entity=entity, checksum=landed.checksum,
                                        batch_id=batch_id, watermark=landed.watermark, repeated=landed.repeated))
        except BaseException:
            for d in found:
                d.path.unlink(missing_ok=True)
            raise
        return found

    def iter_chunks(self, path: Path, provider: Provider, entity: str, profile: MappingProfile,
                    chunk_rows: int | None) -> Iterator[RawBatch]:
        yield from iter_landing(path, chunk_rows)

    def count_unreadable(self, path: Path) -> int:
        return count_nonblank_lines(path)

    def raw_checks(self, summary: RawSummary, spec: RawSpec) -> pd.DataFrame:
        """The raw suite over the records' fields (pages were checked page by page at extraction: a malformed
        page fails the extract, nothing lands), plus the record shape: per required field, the records that do
        not carry the key at all (``api.field_absent``, a warning: the canonical rules decide what an empty value
        does)."""
        from expectations.raw_suites import row_result

        shape = [row_result(spec.entity, R.API__FIELD_ABSENT, column, summary.rows, summary.absent.get(column, 0))
                 for column in spec.required_columns if column in summary.columns]
        return concat_results([super().raw_checks(summary, spec), *shape])

    def owns(self, provider: Provider, path: Path, batch_id: str) -> bool:
        return path.parent.resolve() == provider.feed.path.resolve() and batch_id in path.name

    def leftovers(self, provider: Provider) -> list[Path]:
        folder = provider.feed.path
        return [p for p in folder.glob("*.jsonl") if p.is_file()] if folder.is_dir() else []


FAMILY = RestApi()
