"""The nightly load for one provider, as three steps the DAG and the CLI both call.

extract  -> which new files (batches) a provider has, as small JSON-able references (safe for XCom)
process  -> read, map to the canonical model, pseudonymise, validate; stage the results under var/work/
load     -> the only writer: one transaction per batch into the warehouse, with the ledger row

Between steps only references and counts travel; the staged files hold pseudonymised data only. Which source
family a provider uses is asked once (:func:`psirf.registry.family`); everything family-specific is behind its
interface (:mod:`connectors.base`): nothing here branches on the source type.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from connectors.base import Discovered, RawSpec, RawSummary, file_checksum
from expectations.dq_checks import Assessment, assess, known_organisations, note_issues
from expectations.dq_checks import stage as stage_quality
from expectations.dq_checks import staged as staged_quality
from expectations.gx_runner import RESULT_COLUMNS
from expectations.validate import ValidatedBatch, most_common_problems, validate
from psirf import settings
from psirf.chunked import ChunkedBatch, part_files, staged_tables
from psirf.cleanup import discard_batch, discard_batches, sweep_stale
from psirf.errors import BatchRejected, PsirfError
from psirf.registry import Provider, family, get_provider, load_registry
from psirf.secrets import pseudonymisation_key
from transforms.canonicalise import BatchContext, canonicalise
from transforms.keys import natural_keys
from transforms.profile import MappingProfile, load_profile
from warehouse.dq_results import BatchQuality, history_or_empty, recent_row_counts
from warehouse.ledger import loaded_checksums
from warehouse.load import LINK_TABLES, AlreadyLoaded, Frames, LedgerEntry, LoadResult, load_batch, record_rejection
from warehouse.models import CANONICAL_TABLES, Quarantine
from warehouse.ready import open_warehouse

ENTITY_ORDER = ("incidents", "learning_responses", "safety_actions")  # referenced entities first


@dataclass
class BatchRef:
    """A reference to one batch; what travels between tasks (no data, no identifiers)."""

    batch_id: str
    run_id: str | None
    provider_ods: str
    entity: str
    profile: str
    source_file: str
    checksum: str
    extracted_at: str  # ISO, naive UTC
    encoding: str | None = None
    status: str = "extracted"  # extracted | processed | rejected
    message: str | None = None
    rows_in: int = 0
    duplicates: int = 0
    quarantined: int = 0
    loadable: int = 0
    work_dir: str | None = None
    watermark: str | None = None  # REST: the cursor (ISO) to store once this batch commits
    repeated: int = 0  # REST: records served twice across pages, counted as duplicates
    schema_drift: str | None = None
    history: list[int] | None = None  # rows in of the last loads (raw volume band), read at extract time

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _profile(name: str) -> MappingProfile:
    return load_profile(name, settings.profiles_dir())


def _ref(provider: Provider, found: Discovered, run_id: str | None, extracted_at: dt.datetime) -> BatchRef:
    return BatchRef(batch_id=found.batch_id or str(uuid.uuid4()), run_id=run_id, provider_ods=provider.ods_code,
                    entity=found.entity, profile=provider.profile, source_file=str(found.path),
                    checksum=found.checksum, extracted_at=extracted_at.isoformat(), repeated=found.repeated,
                    watermark=found.watermark.isoformat() if found.watermark else None)


class _WarehouseState:
    """What a family's discovery may ask the warehouse about one provider (:class:`connectors.base.ExtractState`)."""

    def __init__(self, engine: Engine, ods_code: str) -> None:
        self.engine, self.ods_code = engine, ods_code

    def loaded_checksums(self, entity: str) -> set[str]:
        return set(loaded_checksums(self.engine, self.ods_code, entity))

    def watermark(self, entity: str) -> dt.datetime | None:
        from warehouse.ledger import watermark

        return watermark(self.engine, self.ods_code, entity)

    def held_versions(self, entity: str, ids: list[str]) -> dict[str, dt.datetime | None]:
        from warehouse.ledger import held_versions

        return held_versions(self.engine, self.ods_code, entity, ids)


def _order(entity: str) -> int:
    return ENTITY_ORDER.index(entity) if entity in ENTITY_ORDER else len(ENTITY_ORDER)


def extract_provider(ods_code: str, *, run_id: str | None = None, extracted_at: dt.datetime | None = None,
                     engine: Engine | None = None) -> list[dict[str, Any]]:
    """New batches for one provider, incidents first, found by its source family: new files of a file drop (a
    file already loaded with the same checksum is skipped), or for an API the records changed since the stored
    watermark, pulled into a landing file (:meth:`connectors.base.SourceFamily.discover`)."""
    provider = get_provider(ods_code)
    engine = engine or open_warehouse()
    extracted_at = extracted_at or utcnow()
    found = family(provider).discover(provider, _WarehouseState(engine, provider.ods_code))
    found.sort(key=lambda d: (_order(d.entity), d.path.name))
    refs = [_ref(provider, d, run_id, extracted_at).as_dict() for d in found]
    try:
        return [_with_history(BatchRef(**ref), engine).as_dict() for ref in refs]
    except BaseException:  # the landing files already written hold identifiers
        discard_batches(refs)
        raise


def _with_history(ref: BatchRef, engine: Engine) -> BatchRef:
    """Read the volume history here, so that transforming and validating never open the warehouse (DuckDB
    admits one process at a time: transforms of several providers can then run at once)."""
    ref.history = recent_row_counts(engine, ref.provider_ods, ref.entity)
    return ref


def _work_dir(batch_id: str) -> Path:
    """``$PSIRF_HOME/work/<batch id>``; a batch id is a UUID, so the folder is always inside ``work/``."""
    try:
        uuid.UUID(batch_id)
    except ValueError:
        raise PsirfError(f"{batch_id!r} is not a batch id (a UUID)") from None
    return settings.psirf_home() / "work" / batch_id


def transform_and_validate(ref: BatchRef, key: bytes, summary: RawSummary | None = None) -> ValidatedBatch:
    """Read one file whole and return what may be loaded and what is quarantined; raises BatchRejected.
    ``summary``, when given, is filled with what the raw layer checks (:class:`connectors.base.RawSummary`)."""
    profile = _profile(ref.profile)
    provider = get_provider(ref.provider_ods)
    raw = family(provider).read(Path(ref.source_file), provider, ref.entity, profile)
    if summary is not None:
        summary.add(raw)
    ref.encoding = raw.encoding
    ref.rows_in = len(raw.frame) + len(raw.malformed) + ref.repeated  # known even if the batch is rejected below
    extracted_at = dt.datetime.fromisoformat(ref.extracted_at)
    ctx = BatchContext(provider_ods=ref.provider_ods, batch_id=ref.batch_id, extracted_at=extracted_at,
                       pseudonym_key=key)
    canonical = canonicalise(raw, profile, ref.entity, ctx)
    canonical.rows_in += ref.repeated
    canonical.duplicates += ref.repeated
    ref.rows_in = canonical.rows_in
    ref.schema_drift = canonical.schema_drift
    return validate(canonical, extracted_at, settings.max_invalid_share(), ref.source_file)


def _assess(ref: BatchRef, validated: ValidatedBatch | None, rejection: BatchRejected | None,
            raw: pd.DataFrame, notes: pd.DataFrame | None = None) -> Assessment:
    return assess(entity=ref.entity, profile=_profile(ref.profile),
                  extracted_at=dt.datetime.fromisoformat(ref.extracted_at), validated=validated, rejection=rejection,
                  raw=raw, known_orgs=known_organisations(), notes=notes)


def _raw_results(ref: BatchRef, summary: RawSummary | None, history: list[int]) -> pd.DataFrame:
    """The family's raw checks over a file read whole (``psirf check``); none when it could not be read."""
    if summary is None or not summary.encoding:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    profile = _profile(ref.profile)
    spec = RawSpec(entity=ref.entity, history=history,
                   required_columns=list(profile.entity(ref.entity).required_columns().values()))
    return family(get_provider(ref.provider_ods)).raw_checks(summary, spec)


def process_batch(ref_dict: dict[str, Any], *, key: bytes | None = None,
                  cleanup_on_failure: bool = True) -> dict[str, Any]:
    """Transform and validate one batch, chunk by chunk (:mod:`psirf.chunked`), staging the results and their
    data-quality results under the batch's work folder for :func:`load_processed`. When it fails, the batch's
    files go too (:func:`psirf.cleanup.discard_batch`) unless ``cleanup_on_failure`` is off (a retry follows)."""
    try:
        return _process_batch(ref_dict, key)
    except BaseException:
        if cleanup_on_failure:
            discard_batch(ref_dict)
        raise


def _process_batch(ref_dict: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    ref = BatchRef(**ref_dict)
    work = _work_dir(ref.batch_id)
    history = ref.history if ref.history is not None else history_or_empty(ref.provider_ods, ref.entity)
    extracted_at = dt.datetime.fromisoformat(ref.extracted_at)
    ctx = BatchContext(provider_ods=ref.provider_ods, batch_id=ref.batch_id, extracted_at=extracted_at,
                       pseudonym_key=key or pseudonymisation_key())
    batch = ChunkedBatch(source_file=ref.source_file, entity=ref.entity, profile=_profile(ref.profile),
                         provider=get_provider(ref.provider_ods), ctx=ctx, work=work,
                         chunk_rows=settings.chunk_rows(), history=history, repeated=ref.repeated,
                         quarantine_rows=lambda issues: quarantine_frame(ref, issues))
    try:
        staged = batch.run()
    except BatchRejected as exc:
        ref.status, ref.message = "rejected", exc.problem
        ref.rows_in = batch.count_rows() + ref.repeated  # the ledger counts every row of a rejected batch
        stage_quality(work, _assess(ref, None, exc, batch.raw_results()))
        ref.work_dir = str(work)
        return ref.as_dict()
    stage_quality(work, staged.assessment)
    ref.status, ref.work_dir, ref.encoding = "processed", str(work), staged.encoding
    ref.rows_in, ref.schema_drift = staged.rows_in, staged.schema_drift
    ref.duplicates, ref.quarantined, ref.loadable = staged.duplicates, staged.quarantined, staged.loadable
    return ref.as_dict()


def quarantine_frame(ref: BatchRef, issues: pd.DataFrame) -> pd.DataFrame:
    """Issues as rows of the quarantine table, keyed so that a reload of the same batch adds nothing."""
    n = len(issues)
    frame = pd.DataFrame({
        "quarantine_key": natural_keys(pd.Series([ref.batch_id] * n, dtype="string"),
                                       issues["source_row_number"].astype("string").reset_index(drop=True),
                                       issues["rule_id"].astype("string").reset_index(drop=True),
                                       issues["field"].astype("string").reset_index(drop=True)),
        "batch_id": ref.batch_id,
        "provider_ods": ref.provider_ods,
        "entity": ref.entity,
        "source_file": ref.source_file,
    })
    issues = issues.reset_index(drop=True)
    for col in ("source_row_number", "source_record_id", "rule_id", "field", "found", "expected", "message"):
        frame[col] = issues[col]
    return frame[[c.name for c in Quarantine.__table__.columns]]


def _ledger_entry(ref: BatchRef, started_at: dt.datetime) -> LedgerEntry:
    profile = _profile(ref.profile)
    return LedgerEntry(batch_id=ref.batch_id, run_id=ref.run_id, provider_ods=ref.provider_ods, entity=ref.entity,
                       source_system=profile.source_system, profile=ref.profile, source_file=ref.source_file,
                       checksum=ref.checksum, encoding=ref.encoding, rows_in=ref.rows_in,
                       quarantined=ref.quarantined, duplicates=ref.duplicates, started_at=started_at,
                       loaded=ref.loadable if ref.status == "processed" else None, schema_drift=ref.schema_drift,
                       watermark=dt.datetime.fromisoformat(ref.watermark) if ref.watermark else None)


def load_processed(ref_dict: dict[str, Any], *, engine: Engine | None = None,
                   cleanup_on_failure: bool = True) -> dict[str, Any]:
    """Write one processed batch (or its rejection) to the warehouse; raises BatchRejected for a rejected one.

    The batch's work folder and REST landing file are removed once it is loaded, rejected or found already loaded,
    and when the load fails, unless ``cleanup_on_failure`` is off (a retry follows)."""
    try:
        return _load_processed(ref_dict, engine)
    except BatchRejected:
        discard_batch(ref_dict)
        raise
    except BaseException:
        if cleanup_on_failure:
            discard_batch(ref_dict)
        raise


def _load_processed(ref_dict: dict[str, Any], engine: Engine | None) -> dict[str, Any]:
    ref = BatchRef(**ref_dict)
    engine = engine or open_warehouse()
    started_at = utcnow()
    quality = _staged_quality(ref.work_dir)
    if ref.status == "rejected":
        record_rejection(engine, _ledger_entry(ref, started_at), ref.message or "rejected", quality)
        raise BatchRejected(ref.source_file, ref.message or "rejected")
    if ref.status != "processed" or not ref.work_dir:
        raise PsirfError(f"batch {ref.batch_id} ({ref.source_file}) has not been processed (status {ref.status})")
    work = Path(ref.work_dir)
    names = [n for n in staged_tables(work) if n in CANONICAL_TABLES or n in LINK_TABLES]
    ordered: dict[str, Frames] = {ref.entity: part_files(work, ref.entity)}
    ordered.update({n: part_files(work, n) for n in names if n != ref.entity})
    deleted = part_files(work, "deletions")
    try:
        result: LoadResult = load_batch(engine, _ledger_entry(ref, started_at), ordered,
                                        part_files(work, "quarantine"), quality,
                                        deletions={ref.entity: deleted} if deleted else None)
    except AlreadyLoaded as exc:  # another load of the same file won the race: nothing was written
        discard_batch(ref_dict)
        return _skipped(ref.source_file, ref.provider_ods, ref.entity, f"already loaded (same checksum) by batch "
                                                                      f"{exc.loaded_batch_id}") | {
            "batch_id": ref.batch_id}
    discard_batch(ref_dict)  # the landing file still holds identifiers: it goes once the batch is in
    return result.as_dict()


def _skipped(source_file: str, provider_ods: str, entity: str, message: str) -> dict[str, Any]:
    return {"status": "skipped", "message": message, "source_file": source_file, "provider_ods": provider_ods,
            "entity": entity, "rows_in": 0, "loaded": 0, "quarantined": 0, "duplicates": 0}


def _staged_quality(work_dir: str | None) -> BatchQuality | None:
    frames = staged_quality(Path(work_dir) if work_dir else None)
    return BatchQuality(*frames) if frames is not None else None


def run_provider(ods_code: str, *, run_id: str | None = None, engine: Engine | None = None,
                 on_batch: Any = None) -> list[dict[str, Any]]:
    """Extract, process and load every new batch of one provider; rejected batches don't stop the others.

    Returns one summary per batch (ledger counts, or status 'rejected' with the message).
    """
    engine = engine or open_warehouse()
    key = pseudonymisation_key()
    results: list[dict[str, Any]] = []
    refs = extract_provider(ods_code, run_id=run_id, engine=engine)
    try:
        for ref in refs:
            results.append(load_or_reject(process_batch(ref, key=key), engine))
            if on_batch is not None:
                on_batch(results[-1])
    except BaseException:  # the batches not reached yet still have their landing files: nothing must linger
        discard_batches(refs)
        raise
    return results


def load_or_reject(processed: dict[str, Any], engine: Engine) -> dict[str, Any]:
    """Load one processed batch; one rejected at load (a whole-batch rule) is reported, not raised, so that the
    provider's other batches still load."""
    try:
        return load_processed(processed, engine=engine)
    except BatchRejected as exc:
        return {**summary_of(processed), "status": "rejected", "message": exc.problem}


def summary_of(ref: dict[str, Any]) -> dict[str, Any]:
    """A rejected batch's summary: every row counted as quarantined."""
    return {k: ref.get(k) for k in ("batch_id", "provider_ods", "entity", "source_file", "rows_in")} | {
        "loaded": 0, "quarantined": ref.get("rows_in", 0), "duplicates": 0}


def load_file(path: Path, ods_code: str, *, entity: str | None = None, run_id: str | None = None,
              engine: Engine | None = None) -> dict[str, Any]:
    """Load one file for a provider (the CLI's ``psirf load``); a file already loaded is reported as skipped."""
    from psirf.progress import stage

    provider = get_provider(ods_code)
    if not path.is_file():
        raise PsirfError(f"{path}: no such file")
    entity = entity or entity_for(path, provider)
    engine = engine or open_warehouse()
    stage("checksum")
    checksum = file_checksum(path)
    if checksum in loaded_checksums(engine, provider.ods_code, entity):  # the fast path; load_batch re-checks
        return _skipped(str(path), provider.ods_code, entity, "already loaded (same checksum)")
    processed = process_batch(_ref(provider, Discovered(path=path, entity=entity, checksum=checksum), run_id,
                                   utcnow()).as_dict())
    stage("loading into the warehouse")
    return load_processed(processed, engine=engine)


def entity_for(path: Path, provider: Provider) -> str:
    for entity, pattern in provider.feed.globs.items():
        if fnmatch.fnmatch(path.name, pattern):
            return entity
    raise PsirfError(f"{path.name}: cannot tell which entity this file holds for {provider.ods_code} (its globs are "
                     f"{provider.feed.globs}); pass --entity")


def check_file(path: Path, ods_code: str, *, entity: str | None = None,
               rejects_csv: Path | None = None, report_dir: Path | None = None) -> dict[str, Any]:
    """Validate a file without touching the warehouse; write the rejected rows with reasons to a CSV, and the
    provider feedback report (HTML, summary, CSV, Excel) to ``report_dir`` (default ``FILE.report/``)."""
    from psirf.progress import stage
    from reports.provider_feedback import write_check_report
    from reports.safe_cells import write_csv

    provider = get_provider(ods_code)
    if not path.is_file():
        raise PsirfError(f"{path}: no such file")
    entity = entity or entity_for(path, provider)
    ref = BatchRef(batch_id=str(uuid.uuid4()), run_id=None, provider_ods=provider.ods_code, entity=entity,
                   profile=provider.profile, source_file=str(path), checksum=file_checksum(path),
                   extracted_at=utcnow().isoformat())
    summary: dict[str, Any] = {"source_file": str(path), "provider_ods": provider.ods_code, "entity": entity}
    report_dir = report_dir or path.with_name(path.stem + ".report")
    rejects_csv = rejects_csv or path.with_name(path.stem + ".rejects.csv")
    key = pseudonymisation_key()
    raw_summary = RawSummary(entity=entity)
    stage("reading, mapping and validating")
    try:
        validated = transform_and_validate(ref, key, raw_summary)
    except BatchRejected as exc:
        if ref.rows_in == 0:  # rejected while reading: count the file's rows anyway
            ref.rows_in = family(provider).count_unreadable(path)
        result = summary | {"status": "rejected", "message": exc.problem, "rows_in": ref.rows_in, "loaded": 0,
                            "quarantined": ref.rows_in, "duplicates": 0, "encoding": ref.encoding,
                            "rejects_file": str(rejects_csv)}
        assessment = _assess(ref, None, exc, _raw_results(ref, raw_summary, []))
        write_csv(rejects_csv, _rejection_rows(path, exc, assessment), encoding="utf-8")  # why, as for a load
        stage("writing the feedback report")
        files = write_check_report(result, assessment, report_dir)
        return result | {"report_files": files}
    write_csv(rejects_csv, validated.issues, encoding="utf-8")
    stage("writing the feedback report")
    result = summary | {"status": "passed", "encoding": ref.encoding, "rows_in": validated.rows_in,
                        "loaded": validated.loadable, "quarantined": validated.quarantined,
                        "duplicates": validated.duplicates, "rejects_file": str(rejects_csv),
                        "issues_by_rule": validated.issues["rule_id"].value_counts().to_dict(),
                        "issues_by_problem": dict(most_common_problems(validated.issues, 10))}
    assessment = _assess(ref, validated, None, _raw_results(ref, raw_summary, []), note_issues(raw_summary.notes))
    quarantine = quarantine_frame(ref, validated.issues)
    return result | {"report_files": write_check_report(result, assessment, report_dir, quarantine)}


def _rejection_rows(path: Path, exc: BatchRejected, assessment: Assessment) -> pd.DataFrame:
    """The rejects file of a rejected check: the reasons the whole file was rejected (with the rows concerned,
    when the rejection was for too many invalid rows)."""
    issues = getattr(exc, "issues", None)
    if isinstance(issues, pd.DataFrame) and len(issues):
        return issues
    rows = assessment.row_issues
    if len(rows):
        return rows
    return pd.DataFrame([{"source_row_number": None, "rule_id": "batch.rejected", "field": None, "found": None,
                          "expected": None, "message": f"{path.name}: {exc.problem}"}])


def enabled_providers() -> list[str]:
    return [p.ods_code for p in load_registry() if p.enabled]


def start_run() -> list[str]:
    """The first step of a run: sweep what killed runs left behind (:func:`psirf.cleanup.sweep_stale`), then the
    enabled providers."""
    sweep_stale()
    return enabled_providers()


# --- the DAG's per-provider steps: lists of batches in, lists out (XCom-sized) ---------------------------------

def naive_utc(moment: Any) -> dt.datetime:
    """Airflow's tz-aware interval end as naive UTC; now when a manual run has no interval."""
    if moment is None:
        return utcnow()
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return dt.datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def process_batches(refs: list[dict[str, Any]], *, cleanup_on_failure: bool = True) -> list[dict[str, Any]]:
    """Process a provider's batches; on failure every batch's files go (``cleanup_on_failure``: no retry follows)."""
    try:
        key = pseudonymisation_key() if refs else b""
        return [process_batch(ref, key=key, cleanup_on_failure=cleanup_on_failure) for ref in refs]
    except BaseException:
        if cleanup_on_failure:
            discard_batches(refs)
        raise


def load_batches(ods_code: str, processed: list[dict[str, Any]], *, engine: Engine | None = None,
                 cleanup_on_failure: bool = True) -> dict[str, Any]:
    """Load a provider's batches in order; a rejected one is recorded and reported after the others are loaded."""
    results: list[dict[str, Any]] = []
    rejected: list[str] = []
    try:
        engine = engine or open_warehouse()
        for ref in processed:
            try:
                results.append(load_processed(ref, engine=engine, cleanup_on_failure=cleanup_on_failure))
            except BatchRejected as exc:
                rejected.append(str(exc))
                results.append({**summary_of(ref), "status": "rejected", "message": exc.problem})
    except BaseException:
        if cleanup_on_failure:
            discard_batches(processed)
        raise
    provider = ods_code
    totals = {k: sum(int(r.get(k) or 0) for r in results) for k in ("rows_in", "loaded", "quarantined", "duplicates")}
    if rejected:
        raise BatchRejected(f"{provider}: {len(rejected)} of {len(processed)} file(s)", "; ".join(rejected))
    return {"provider_ods": provider, "batches": len(results), **totals}


def run_summary(expected: list[str], results: list[dict[str, Any]],
                marts: dict[str, Any] | None = None, *, marts_expected: bool = False) -> dict[str, Any]:
    """Log one line per provider; fail (naming them) if any provider did not load, or if the marts were not built
    and published (``marts`` is what publishing returned; None when a model or test failed before it)."""
    import logging

    log = logging.getLogger("psirf.summary")
    done = {r["provider_ods"] for r in results}
    for r in results:
        log.info("%s: %s batch(es), rows_in=%s loaded=%s quarantined=%s duplicates=%s", r["provider_ods"],
                 r["batches"], r["rows_in"], r["loaded"], r["quarantined"], r["duplicates"])
    failed = sorted(set(expected) - done)
    problems = []
    if failed:
        problems.append(f"{len(failed)} provider(s) failed: {', '.join(failed)}; see their load task logs")
    if marts_expected and not marts:
        problems.append("the marts were not built: a dbt model or test failed (see the marts task group)")
    if problems:
        raise PsirfError("; ".join(problems))
    return {"providers": len(expected), "results": results, "marts": marts}
