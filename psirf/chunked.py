"""Transform and validate one batch file chunk by chunk, staging each chunk's results as parquet parts.

A five-year backfill arrives as a few very large export files; reading one whole would make memory grow with the
file. Here a file is read ``PSIRF_CHUNK_ROWS`` rows at a time by its source family
(:meth:`connectors.base.SourceFamily.iter_chunks`) and each chunk
goes through exactly the steps a small file does (canonicalise, validate with the GX suites, data-quality
findings), so peak memory follows the chunk size. What spans chunks is handled here, with state that is small
per row (a 128-bit hash per row, the record ids):

* a row repeated exactly in a later chunk is a duplicate, as within a chunk;
* a record id sent in two chunks with different content is a conflicting duplicate, as within a chunk: every
  row with that id is quarantined. The file is read once; each chunk is hashed and its ids looked up before it is
  transformed, so a chunk knows every conflict on its ids but those a *later* chunk reveals: the (rare) chunks
  concerned are read and staged again at the end, knowing them;
* the batch is rejected when too large a share of *all* its rows is invalid, after the last chunk;
* the batch's counts, rule results and findings are the sums of its chunks';
* the raw layer is checked once for the whole file, by its family, over what the pass summed up
  (:class:`connectors.base.RawSummary`: header, encoding, rows, malformed rows and notes by rule).

Nothing here knows which family a file came from.

Nothing reaches the warehouse here: :func:`psirf.pipeline.load_processed` loads all parts in one transaction.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from connectors.base import RawBatch, RawSpec, RawSummary, SourceFamily
from expectations.dq_checks import Assessment, chunk_findings, combine, known_organisations, note_issues
from expectations.gx_runner import RESULT_COLUMNS
from expectations.validate import check_invalid_share, validate, validate_tables
from psirf import settings
from psirf.errors import BatchRejected
from psirf.registry import Provider, family
from transforms import normalise
from transforms.canonicalise import BatchContext, CanonicalBatch, canonicalise
from transforms.profile import MappingProfile

PARTS = "parts"
_SECOND_HASH_KEY = "psirf-dup-key-02"  # 16 characters, as pandas requires: a second, independent 64-bit hash


def parts_dir(work: Path) -> Path:
    return work / PARTS


def part_files(work: Path, name: str) -> list[Path]:
    """The staged parts of one table (or ``quarantine``, ``deletions``), in chunk order."""
    return sorted((parts_dir(work) / name).glob("part-*.parquet"))


def staged_tables(work: Path) -> list[str]:
    root = parts_dir(work)
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


@dataclass
class ChunkResult:
    rows_in: int
    duplicates: int
    quarantined: int
    results: pd.DataFrame
    row_issues: pd.DataFrame
    issues: pd.DataFrame
    schema_drift: str | None


@dataclass
class StagedBatch:
    """The sums over a batch's chunks: what :class:`psirf.pipeline.BatchRef` records."""

    rows_in: int
    duplicates: int
    quarantined: int
    schema_drift: str | None
    encoding: str | None
    assessment: Assessment

    @property
    def loadable(self) -> int:
        return self.rows_in - self.duplicates - self.quarantined


@dataclass
class _State:
    """What the single pass has seen so far: row hashes, where each record id was first sent, ids sent twice with
    different content, and per chunk the row numbers that repeat an earlier row exactly."""

    conflicted: set[str] = field(default_factory=set)
    dropped: dict[int, set[int]] = field(default_factory=dict)
    seen_rows: set[int] = field(default_factory=set)
    first_chunk: dict[str, int] = field(default_factory=dict)
    last_id: str | None = None
    redo: set[int] = field(default_factory=set)  # chunks staged before a conflict on one of their ids was seen


def _row_hashes(frame: pd.DataFrame) -> list[int]:
    """A 128-bit hash of each row's strings (two independent 64-bit hashes): equal rows, equal hashes."""
    first = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    second = pd.util.hash_pandas_object(frame, index=False, hash_key=_SECOND_HASH_KEY).to_numpy()
    return [(a << 64) | b for a, b in zip(first.tolist(), second.tolist(), strict=True)]


def _drop_rows(raw: RawBatch, row_numbers: set[int]) -> RawBatch:
    if not row_numbers:
        return raw
    keep = [n not in row_numbers for n in raw.row_numbers]
    return RawBatch(source_file=raw.source_file, encoding=raw.encoding, columns=raw.columns,
                    frame=raw.frame[keep].reset_index(drop=True),
                    row_numbers=[n for n, k in zip(raw.row_numbers, keep, strict=True) if k], malformed=raw.malformed,
                    notes=raw.notes, absent=raw.absent)


def _record_ids(raw: RawBatch, id_column: str) -> list[str]:
    if id_column not in raw.frame:
        return []
    return normalise.squeeze(raw.frame[id_column]).dropna().unique().tolist()


class ChunkedBatch:
    """One batch file being staged; :meth:`run` does the work."""

    def __init__(self, *, source_file: str, entity: str, profile: MappingProfile, provider: Provider,
                 ctx: BatchContext, work: Path, chunk_rows: int, history: list[int], repeated: int = 0,
                 quarantine_rows: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
        self.source_file, self.entity, self.profile, self.provider = source_file, entity, profile, provider
        self.ctx, self.work, self.chunk_rows, self.history, self.repeated = ctx, work, chunk_rows, history, repeated
        self.quarantine_rows = quarantine_rows
        self.family: SourceFamily = family(provider)
        self.id_column = profile.entity(entity).columns["source_record_id"]
        self.known_orgs = known_organisations()
        self.summary: RawSummary | None = None  # set by the first pass; None while (or when) the file is unreadable

    def _chunks(self) -> Iterator[RawBatch]:
        return self.family.iter_chunks(Path(self.source_file), self.provider, self.entity, self.profile,
                                       self.chunk_rows)

    def count_rows(self) -> int:
        """Rows in the file (malformed ones included), for the ledger of a rejected batch; a file that cannot be
        read is counted leniently by its family (:meth:`connectors.base.SourceFamily.count_unreadable`)."""
        if self.summary is not None:
            return self.summary.records
        try:
            return sum(len(raw.frame) + len(raw.malformed) for raw in self._chunks())
        except BatchRejected:
            return self.family.count_unreadable(Path(self.source_file))

    def raw_results(self) -> pd.DataFrame:
        """The raw layer's results for the file (its family's checks), or none when it could not be read."""
        if self.summary is None:
            return pd.DataFrame(columns=RESULT_COLUMNS)
        spec = RawSpec(entity=self.entity, history=self.history,
                       required_columns=list(self.profile.entity(self.entity).required_columns().values()))
        return self.family.raw_checks(self.summary, spec)

    def raw_notes(self) -> pd.DataFrame:
        """The raw-layer warnings the reader noted, as row findings."""
        return note_issues(self.summary.notes if self.summary is not None else [])

    def _scan(self, i: int, raw: RawBatch, state: _State) -> None:
        """What the pass learns from chunk ``i`` before staging it (read and hash, no transform): which of its rows
        repeat an earlier row exactly, and which record ids are sent more than once with different content. A
        conflict found here on an id an earlier chunk sent marks that chunk for staging again."""
        patient_level = "patient_sequence" in self.profile.entity(self.entity).columns
        state.dropped[i] = set()
        for number, h in zip(raw.row_numbers, _row_hashes(raw.frame), strict=True):
            if h in state.seen_rows:
                state.dropped[i].add(number)
            state.seen_rows.add(h)
        if self.id_column not in raw.frame:
            return
        ids = normalise.squeeze(raw.frame[self.id_column]).tolist()
        for number, record_id in zip(raw.row_numbers, ids, strict=True):
            if number in state.dropped[i] or record_id is pd.NA or record_id is None:
                continue
            # one row per patient: a record's rows are consecutive; the id coming back later is a conflict
            if patient_level and record_id == state.last_id:
                continue
            first = state.first_chunk.get(record_id)
            if first is None:
                state.first_chunk[record_id] = i
            else:
                if record_id not in state.conflicted and first < i:
                    state.redo.add(first)  # staged without knowing: stage it again at the end
                state.conflicted.add(record_id)
            state.last_id = record_id

    def run(self) -> StagedBatch:
        """Stage every chunk in one pass over the file; raises :class:`BatchRejected` (nothing left staged) for a
        batch rejected as a whole.

        Rows that repeat an earlier row are dropped as they come (the first copy was kept); a record id sent again
        with different content is a conflict for every row with that id, so a chunk transformed before the id came
        back is transformed again at the end, with the conflict known (only then is the file read a second time,
        and only those chunks). Each chunk's canonical tables are staged as they are made; the canonical suites
        then run once per table over the whole batch (GX on DuckDB over the staged parts,
        :func:`expectations.validate.validate_tables`), and each chunk is split into what loads and what is
        quarantined with the batch's results."""
        shutil.rmtree(parts_dir(self.work), ignore_errors=True)
        shutil.rmtree(self._pre, ignore_errors=True)
        transformed: dict[int, CanonicalBatch] = {}
        results: dict[int, ChunkResult] = {}
        encoding: str | None = None
        state = _State()
        summary = RawSummary(entity=self.entity)
        try:
            chunks = self._chunks()
            for i, raw in enumerate(chunks):
                summary.add(raw)
                encoding = raw.encoding
                self._scan(i, raw, state)
                try:
                    transformed[i] = self._transform(i, _drop_rows(raw, state.dropped[i]), len(raw.frame), state)
                except BatchRejected:
                    for rest in chunks:  # the raw layer is still checked over the whole file
                        summary.add(rest)
                    self.summary = summary
                    raise
            self.summary = summary
            if state.redo:
                for i, raw in enumerate(self._chunks()):
                    if i in state.redo:
                        transformed[i] = self._transform(i, _drop_rows(raw, state.dropped[i]), len(raw.frame),
                                                         state)
            suite_results = validate_tables(self._staged_canonical(transformed),
                                            any(c.patient_level for c in transformed.values()),
                                            f"{self.provider.ods_code}_{self.ctx.batch_id}")
            for i in sorted(transformed):
                results[i] = self._validate(i, transformed.pop(i), suite_results)
            rows_in = sum(r.rows_in for r in results.values())
            quarantined = sum(r.quarantined for r in results.values())
            issues = [r.issues for r in results.values() if len(r.issues)]
            check_invalid_share(rows_in, quarantined, pd.concat(issues, ignore_index=True) if issues
                                else pd.DataFrame(columns=["rule_id"]), settings.max_invalid_share(),
                                self.source_file)
        except BatchRejected:
            shutil.rmtree(parts_dir(self.work), ignore_errors=True)
            raise
        finally:
            shutil.rmtree(self._pre, ignore_errors=True)
        ordered = [results[i] for i in sorted(results)]
        assessment = combine(self.raw_results(), [r.results for r in ordered],
                             [self.raw_notes(), *(r.row_issues for r in ordered)])
        return StagedBatch(rows_in=rows_in, duplicates=sum(r.duplicates for r in ordered), quarantined=quarantined,
                           schema_drift=next((r.schema_drift for r in ordered if r.schema_drift), None),
                           encoding=encoding, assessment=assessment)

    @property
    def _pre(self) -> Path:
        """Where each chunk's canonical tables wait for the batch's validation (helper columns included)."""
        return self.work / "canonical"

    def _transform(self, i: int, raw: RawBatch, rows_read: int, state: _State) -> CanonicalBatch:
        """Chunk ``i`` mapped to the canonical tables, which are written to disk; the batch returned holds the
        rest (issues, row groups, counts) and the tables' names, in order, with no rows."""
        cross_duplicates = rows_read - len(raw.frame)
        ids = set(_record_ids(raw, self.id_column))
        canonical = canonicalise(raw, self.profile, self.entity, self.ctx, frozenset(ids & state.conflicted))
        extra = cross_duplicates + (self.repeated if i == 0 else 0)  # REST: records served twice across pages
        canonical.rows_in += extra
        canonical.duplicates += extra
        name = f"part-{i:05d}.parquet"
        for table, frame in canonical.tables.items():
            folder = self._pre / table
            folder.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(folder / name, index=False)
            canonical.tables[table] = frame.iloc[0:0]
        return canonical

    def _staged_canonical(self, transformed: dict[int, CanonicalBatch]) -> dict[str, list[Path]]:
        """Every table's staged parts that hold rows, in chunk order."""
        tables = dict.fromkeys(name for c in transformed.values() for name in c.tables)
        return {table: [p for p in sorted((self._pre / table).glob("part-*.parquet"))
                        if pq.ParquetFile(p).metadata.num_rows] for table in tables}

    def _validate(self, i: int, canonical: CanonicalBatch, suite_results: dict[str, object]) -> ChunkResult:
        name = f"part-{i:05d}.parquet"
        canonical.tables = {table: pd.read_parquet(self._pre / table / name) for table in canonical.tables}
        validated = validate(canonical, self.ctx.extracted_at, 1.0, self.source_file,  # the share: whole batch
                             suite_results)
        for table, frame in validated.tables.items():
            _write(self.work, table, name, frame)
        if validated.deletions is not None and len(validated.deletions):
            _write(self.work, "deletions", name, validated.deletions)
        _write(self.work, "quarantine", name, self.quarantine_rows(validated.issues))
        found, row_issues = chunk_findings(validated, self.profile, self.ctx.extracted_at, self.known_orgs)
        return ChunkResult(rows_in=validated.rows_in, duplicates=validated.duplicates,
                           quarantined=validated.quarantined, results=found,
                           row_issues=row_issues, issues=validated.issues, schema_drift=validated.schema_drift)


def _write(work: Path, table: str, name: str, frame: pd.DataFrame) -> None:
    folder = parts_dir(work) / table
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / name, index=False)
