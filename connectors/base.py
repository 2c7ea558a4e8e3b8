"""What every source family shares: the raw batch a reader hands on, and the interface the pipeline calls.

A *source family* is one way providers send data (CSV drops, Excel drops, a REST API, LFPSE FHIR exports). Each
lives in its own folder, ``connectors/<family>/``, exporting one :class:`SourceFamily` object named ``FAMILY``, and
is listed once in :mod:`connectors.registry`. The pipeline (:mod:`psirf.pipeline`, :mod:`psirf.chunked`) only
calls this interface:

* :meth:`SourceFamily.discover` — the provider's new batches: files not yet loaded (by checksum), or for an API
  the records changed since the stored watermark, pulled into a landing file (so a batch is always a file);
* :meth:`SourceFamily.iter_chunks` — the batch's raw rows in chunks, as strings, with the encoding, spreadsheet row
  numbers, rows that cannot be parsed (``malformed``) and raw-layer warnings (``notes``);
* :meth:`SourceFamily.raw_checks` — the raw-layer rule results for the batch (columns or elements, row count
  against recent loads, encoding, and whatever else the family can check before a value is interpreted);
* :meth:`SourceFamily.after_load` — what happens to the batch's file once it is loaded, rejected or abandoned
  (a REST landing file, holding identifiers, is deleted; a provider's own export is left alone).

Connectors only read: they never write the warehouse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import pandas as pd

from psirf.errors import PsirfError

if TYPE_CHECKING:
    from psirf.registry import Provider
    from transforms.profile import MappingProfile


class Malformed(tuple[int, str, str]):
    """A row (or record) that cannot become a canonical row: ``(row number, rule id, problem)``, quarantined with
    the rule; ``problem`` is safe to store (no patient data). ``field`` names the column or element concerned,
    when there is one (a plain 3-tuple has none: :func:`field_of`)."""

    field: str | None

    def __new__(cls, row_number: int, rule_id: str, problem: str, field: str | None = None) -> Malformed:
        self = super().__new__(cls, (row_number, rule_id, problem))
        self.field = field
        return self


def field_of(malformed: tuple[int, str, str]) -> str | None:
    """The column or element a malformed row is about (None for a plain tuple)."""
    return getattr(malformed, "field", None)


@dataclass(frozen=True)
class RawNote:
    """A raw-layer warning on a row that still loads (e.g. an LFPSE record without ``meta.lastUpdated``, whose
    version time came from the Bundle): measured in the raw layer's results and listed in the provider report."""

    row_number: int
    record_id: str | None
    rule_id: str
    field: str
    found: str
    expected: str


@dataclass
class RawBatch:
    """One file's rows as strings. ``row_numbers`` are spreadsheet row numbers (header = row 1)."""

    source_file: str
    encoding: str
    columns: list[str]
    frame: pd.DataFrame
    row_numbers: list[int]
    # Rows that cannot become canonical rows at all (see :class:`Malformed`). They are quarantined.
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # Malformed, or plain tuples
    notes: list[RawNote] = field(default_factory=list)
    # Column -> rows in which the source did not carry the element at all (REST: a key absent from a record).
    absent: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceFile:
    path: Path
    entity: str
    checksum: str  # SHA-256 of the bytes: the same file re-sent is recognised and skipped
    size: int


@dataclass
class Discovered:
    """One new batch a family found: its file, entity and checksum, and what the pipeline records with it."""

    path: Path
    entity: str
    checksum: str
    batch_id: str | None = None  # set when the family named the file after the batch (a REST landing file)
    watermark: dt.datetime | None = None  # REST: the cursor to store once the batch commits
    repeated: int = 0  # REST: records served twice across pages, counted as duplicates


class ExtractState(Protocol):
    """What discovery may ask the warehouse (read only), per entity of the provider being extracted."""

    def loaded_checksums(self, entity: str) -> set[str]: ...

    def watermark(self, entity: str) -> dt.datetime | None: ...

    def held_versions(self, entity: str, ids: list[str]) -> dict[str, dt.datetime | None]: ...


@dataclass
class RawSummary:
    """What the raw layer knows about a whole batch once its chunks are read (no values kept): the header, the
    encoding, row counts, malformed rows and notes by rule, absent elements. :meth:`SourceFamily.raw_checks` runs
    over it, so a file read in chunks is checked once, as a whole."""

    entity: str
    columns: list[str] = field(default_factory=list)
    encoding: str = ""
    rows: int = 0  # rows read (malformed ones excluded)
    malformed: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    notes: list[RawNote] = field(default_factory=list)
    absent: Counter[str] = field(default_factory=Counter)

    @property
    def records(self) -> int:
        """Rows read plus rows that could not be parsed: everything the file held."""
        return self.rows + sum(self.malformed.values())

    def add(self, batch: RawBatch) -> None:
        self.columns, self.encoding = list(batch.columns), batch.encoding
        self.rows += len(batch.frame)
        for m in batch.malformed:
            self.malformed[(m[1], field_of(m))] += 1
        self.notes.extend(batch.notes)
        self.absent.update(batch.absent)


@dataclass(frozen=True)
class RawSpec:
    """What the raw checks need beyond the batch: the entity, the columns the profile requires, and the row counts
    of the provider's recent loads of the entity (the volume band)."""

    entity: str
    required_columns: list[str]
    history: Sequence[int] = ()


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def discover_files(folder: Path, globs: dict[str, str], skip_checksums: set[str] | frozenset[str] = frozenset()
                   ) -> list[SourceFile]:
    """Files matching each entity's glob, oldest name first, minus those whose checksum was already loaded."""
    found: list[SourceFile] = []
    for entity, pattern in globs.items():
        for path in sorted(folder.glob(pattern)):
            if not path.is_file():
                continue
            checksum = file_checksum(path)
            if checksum in skip_checksums:
                continue
            found.append(SourceFile(path=path, entity=entity, checksum=checksum, size=path.stat().st_size))
    return found


class SourceFamily(ABC):
    """One source family. Subclasses set the class attributes and implement :meth:`iter_chunks`; the defaults
    are those of a file drop (files found by glob in the provider's feed folder, left in place after loading)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    needs_api: ClassVar[bool] = False  # configured by an [provider.api] table, not a [provider.feed] folder
    lands_files: ClassVar[bool] = False  # batches are files the platform wrote (holding identifiers)
    encodings: ClassVar[tuple[str, ...]] = ("utf-8", "utf-8-sig", "cp1252", "utf-16")  # the raw check's set

    # --- configuration -----------------------------------------------------------------------------------------
    def validate_config(self, ods_code: str, api: dict[str, Any] | None) -> None:  # noqa: B027 - optional hook
        """Check the family's own configuration at registry load; raise :class:`psirf.errors.ConfigError`."""

    # --- discover ----------------------------------------------------------------------------------------------
    def discover(self, provider: Provider, state: ExtractState) -> list[Discovered]:
        """New files in the feed folder, by entity glob, minus those already loaded (same checksum)."""
        if not provider.feed.path.is_dir():
            raise PsirfError(f"{provider.ods_code}: feed folder {provider.feed.path} does not exist")
        done = set().union(*(state.loaded_checksums(e) for e in provider.feed.globs))
        return [Discovered(path=s.path, entity=s.entity, checksum=s.checksum)
                for s in discover_files(provider.feed.path, provider.feed.globs, frozenset(done))]

    # --- read --------------------------------------------------------------------------------------------------
    @abstractmethod
    def iter_chunks(self, path: Path, provider: Provider, entity: str, profile: MappingProfile,
                    chunk_rows: int | None) -> Iterator[RawBatch]:
        """The batch's raw rows in chunks of about ``chunk_rows`` rows (all at once when None); row numbers
        continue across chunks. Raises :class:`psirf.errors.BatchRejected` for a file that cannot be read."""

    def read(self, path: Path, provider: Provider, entity: str, profile: MappingProfile) -> RawBatch:
        """The whole batch as one raw batch."""
        return next(iter(self.iter_chunks(path, provider, entity, profile, None)))

    def count_unreadable(self, path: Path) -> int:
        """Rows of a file the reader rejected, counted leniently for the ledger (0 when they cannot be told)."""
        return 0

    # --- raw checks --------------------------------------------------------------------------------------------
    def raw_checks(self, summary: RawSummary, spec: RawSpec) -> pd.DataFrame:
        """The raw suite ``raw.<entity>`` (required columns, at least one row, the row-count band, an accepted
        encoding) plus the raw-layer warnings the reader noted; families add their own checks."""
        from expectations.raw_suites import check_summary, note_results

        results = check_summary(summary.entity, summary.columns, summary.encoding, summary.rows,
                                spec.required_columns, spec.history, self.encodings)
        return _concat([results, note_results(summary)])

    # --- after the load ----------------------------------------------------------------------------------------
    def owns(self, provider: Provider, path: Path, batch_id: str) -> bool:
        """Whether ``path`` is a file the platform wrote for this batch (and so removes); never a provider's own."""
        return False

    def after_load(self, provider: Provider, path: Path, batch_id: str) -> None:
        """Called once the batch is loaded, rejected or given up: remove what the platform wrote for it."""
        if self.owns(provider, path, batch_id):
            path.unlink(missing_ok=True)

    def leftovers(self, provider: Provider) -> list[Path]:
        """Files of this provider a killed run may have left behind (swept when older than the task timeout)."""
        return []


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [f for f in frames if len(f)]
    if not parts:
        return frames[0].iloc[0:0] if frames else pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def concat_results(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Rule-result frames, concatenated (empty ones dropped)."""
    return _concat(frames)


def count_nonblank_lines(path: Path) -> int:
    """The records of a line-per-record file (NDJSON, a REST landing) that could not be read: its non-blank lines;
    0 when the file is gone."""
    try:
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return 0
