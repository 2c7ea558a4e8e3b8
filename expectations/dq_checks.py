"""One batch's data-quality assessment: rule results at the raw and canonical layers, warnings, dimension scores.

Blocking rules (severity ``error``) already decided what is quarantined (:mod:`expectations.validate`); this module
*measures* them (rows evaluated and failed per rule and field, so a score can be computed and trended) and adds the
warning rules, which load the row but tell the provider what to fix. Nothing here does I/O except reading the
batch's own file for the raw checks; history and the list of known organisations are passed in.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from connectors.base import RawNote
from expectations.canonical_suites import SUITES
from expectations.gx_runner import RESULT_COLUMNS
from expectations.rules import DIMENSIONS, R, describe
from expectations.validate import TooManyInvalid, ValidatedBatch
from psirf.errors import BatchRejected
from transforms.fields import ENTITY_FIELDS, FieldKind
from transforms.profile import MappingProfile

ROW_ISSUE_COLUMNS = ["source_row_number", "source_record_id", "rule_id", "severity", "field", "found", "expected",
                     "message"]
SCORE_COLUMNS = ["dimension", "checks_evaluated", "checks_failed", "score"]
ENTITY_TABLES = {"incidents": ("incidents", "incident_patients"), "safety_actions": ("safety_actions",)}
MODERATE_OR_WORSE = ("3", "2", "1")  # LFPSE physical harm runs backwards: 3 moderate, 2 severe, 1 fatal
PSYCHOLOGICAL_MODERATE_OR_WORSE = ("2", "1")  # psychological: 2 moderate, 1 severe
ODS_FORMAT = re.compile(r"^(R[A-Z0-9]{2}|[A-Z]\d{5}|Q[A-Z0-9]{2}|[A-Z0-9]{3}\d{2})$")

# Optional fields that reporting and learning rely on: canonical input field -> column in the canonical table.
EXPECTED_FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    "incidents": {"reported_date": ("incidents", "reported_date"), "occurred_time": ("incidents", "occurred_time"),
                  "category": ("incidents", "category_code"), "location_type": ("incidents", "location_type_source"),
                  "specialty": ("incidents", "specialty_source"), "description": ("incidents", "description"),
                  "gender": ("incident_patients", "gender_code"),
                  "ethnicity": ("incident_patients", "ethnicity_code")},
    "safety_actions": {"owner_role": ("safety_actions", "owner_role"),
                       "agreed_date": ("safety_actions", "agreed_date"), "due_date": ("safety_actions", "due_date"),
                       "effectiveness_measure": ("safety_actions", "effectiveness_measure")},
}


def reporting_days() -> int:
    """``PSIRF_REPORTING_DAYS`` (default 5): an incident reported later than this after it occurred is late."""
    return int(os.environ.get("PSIRF_REPORTING_DAYS", "5"))


@dataclass
class Assessment:
    """What the checks found for one batch; ``rejected`` mirrors the ledger status."""

    rejected: bool
    results: pd.DataFrame  # RESULT_COLUMNS
    row_issues: pd.DataFrame  # ROW_ISSUE_COLUMNS: warnings on loaded rows, or why a rejected batch was rejected
    scores: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SCORE_COLUMNS))


# --- raw layer ---------------------------------------------------------------------------------------------


def note_issues(notes: Sequence[RawNote]) -> pd.DataFrame:
    """The raw-layer warnings a reader noted, as row findings for the provider's report."""
    if not notes:
        return pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    return pd.DataFrame([{"source_row_number": n.row_number, "source_record_id": n.record_id, "rule_id": n.rule_id,
                          "severity": describe(n.rule_id).severity, "field": n.field, "found": n.found,
                          "expected": n.expected, "message": describe(n.rule_id).description} for n in notes],
                        columns=ROW_ISSUE_COLUMNS)


def rejection_result(entity: str, rejection: BatchRejected) -> pd.DataFrame:
    """The failed whole-batch rule a rejection is recorded under (its rule id travels on the exception)."""
    return pd.DataFrame([_result(rejection.layer, f"{rejection.layer}.{entity}", rejection.rule_id,
                                 rejection.field, 1, 1, "batch")], columns=RESULT_COLUMNS)


# --- canonical layer: measuring the blocking rules ---------------------------------------------------------


def _tables(entity: str) -> tuple[str, ...]:
    return ENTITY_TABLES.get(entity, (entity,))


def canonical_checks(entity: str, profile: MappingProfile, extracted_at: dt.datetime) -> list[tuple[str, str, str]]:
    """(suite, rule id, field as the provider names it) for every blocking check a batch of ``entity`` goes through."""
    mapping = profile.entity(entity)
    columns = mapping.columns
    suite = f"canonical.{entity}"
    checks: list[tuple[str, str, str]] = [(suite, R.ROW__MALFORMED, "")]
    kinds = {FieldKind.DATE: [R.DATE__UNPARSEABLE], FieldKind.DATETIME: [R.DATE__UNPARSEABLE],
             FieldKind.DATE_OF_BIRTH: [R.DATE__UNPARSEABLE, R.DOB__AFTER_INCIDENT],
             FieldKind.TIME: [R.TIME__UNPARSEABLE], FieldKind.BOOL: [R.BOOL__UNPARSEABLE],
             FieldKind.CODE: [R.CODE__UNKNOWN],
             FieldKind.NHS_NUMBER: [R.NHS_NUMBER__BAD_FORMAT, R.NHS_NUMBER__SCIENTIFIC_NOTATION,
                                    R.NHS_NUMBER__INVALID_CHECK_DIGIT]}
    for fld, col in columns.items():
        spec = ENTITY_FIELDS.get(entity, {}).get(fld)
        checks += [(suite, rule_id, col) for rule_id in (kinds.get(spec.kind, []) if spec else [])]
    if mapping.rejected_when is not None and mapping.rejected_when.field in columns:
        checks.append((suite, R.RECORD__REJECTED_IN_SOURCE, columns[mapping.rejected_when.field]))
    for table in _tables(entity):
        if table not in SUITES:
            continue
        for expectation in SUITES[table](extracted_at):
            info = expectation.meta or {}
            fld = info.get("field", "")
            if info.get("rule_id") == R.BATCH__EMPTY or (fld not in columns and fld != "source_record_id"):
                continue
            checks.append((f"canonical.{table}", info["rule_id"], columns.get(fld, fld)))
    seen: set[tuple[str, str]] = set()
    unique = []
    for check in checks:
        if (check[1], check[2]) not in seen:
            seen.add((check[1], check[2]))
            unique.append(check)
    return unique


def canonical_results(checks: Iterable[tuple[str, str, str]], issues: pd.DataFrame, rows: int,
                      entity: str) -> pd.DataFrame:
    """Rows evaluated (every distinct row) and failed (distinct rows with an issue) per blocking rule and field."""
    failed: dict[tuple[str, str], int] = {}
    if len(issues):
        keyed = issues.assign(field=issues["field"].fillna("").astype(str))
        failed = keyed.groupby(["rule_id", "field"])["source_row_number"].nunique().astype(int).to_dict()
    records = []
    listed = set()
    for suite, rule_id, fld in checks:
        listed.add((rule_id, fld))
        records.append(_result("canonical", suite, rule_id, fld, rows, failed.get((rule_id, fld), 0)))
    for (rule_id, fld), n in failed.items():
        if (rule_id, fld) not in listed:
            records.append(_result("canonical", f"canonical.{entity}", rule_id, fld, rows, n))
    return pd.DataFrame.from_records(records, columns=RESULT_COLUMNS)


def _result(layer: str, suite: str, rule_id: str, fld: str | None, evaluated: int, failed: int,
            scope: str = "row") -> dict[str, object]:
    rule = describe(rule_id)
    return {"layer": layer, "suite": suite, "rule_id": rule_id, "field": fld or None, "dimension": rule.dimension,
            "severity": rule.severity, "scope": scope, "rows_evaluated": int(evaluated),
            "rows_failed": int(min(failed, evaluated))}


# --- canonical layer: warnings on the rows that load -------------------------------------------------------


class _Findings:
    def __init__(self, entity: str) -> None:
        self.entity = entity
        self.results: list[dict[str, object]] = []
        self.rows: list[pd.DataFrame] = []

    def add(self, rule_id: str, fld: str, evaluated: pd.Series, failed: pd.Series, rows: pd.Series,
            ids: pd.Series, found: pd.Series | str, expected: str) -> None:
        evaluated = evaluated.fillna(False).astype(bool)
        failed = (failed.fillna(False).astype(bool) & evaluated)
        self.results.append(_result("canonical", f"canonical.{self.entity}", rule_id, fld, int(evaluated.sum()),
                                    int(failed.sum())))
        if failed.any():
            rule = describe(rule_id)
            self.rows.append(pd.DataFrame({
                "source_row_number": rows[failed].astype("Int64").to_numpy(),
                "source_record_id": ids[failed].astype("string").to_numpy(),
                "rule_id": rule_id, "severity": rule.severity, "field": fld,
                "found": (found[failed].astype("string").str.slice(0, 200).to_numpy()
                          if isinstance(found, pd.Series) else found),
                "expected": expected, "message": rule.description}))


def warnings(validated: ValidatedBatch, profile: MappingProfile, extracted_at: dt.datetime,
             known_orgs: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Warning rules over the rows that will load: (rule results, row findings)."""
    entity = validated.entity
    columns = profile.entity(entity).columns
    primary = validated.tables.get(_tables(entity)[0])
    if primary is None or entity not in EXPECTED_FIELDS:  # an entity without warning rules (yet)
        return pd.DataFrame(columns=RESULT_COLUMNS), pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    rows = validated.source_rows
    if rows is None or len(rows) != len(primary):  # no row numbers when rows and records differ (LFPSE patients)
        rows = pd.Series(pd.NA, index=primary.index, dtype="Int64")
    rows = rows.set_axis(primary.index)
    ids = primary["source_record_id"]
    out = _Findings(entity)
    everything = pd.Series(True, index=primary.index)
    for fld, (table, column) in EXPECTED_FIELDS[entity].items():
        if fld not in columns or table not in validated.tables:
            continue
        if table == _tables(entity)[0]:
            values, where = primary[column], everything
        else:  # patient fields: per incident that has a patient row
            patients = validated.tables[table].drop_duplicates("incident_key").set_index("incident_key")[column]
            values = primary["incident_key"].map(patients)
            where = primary["incident_key"].isin(patients.index)
        out.add(R.EXPECTED__MISSING, columns[fld], where, values.isna(), rows, ids, "(empty)", "a value")
    if entity == "incidents":
        _incident_warnings(out, primary, columns, rows, ids)
        _mapping_notes(out, validated, columns, len(primary))
    else:
        _action_warnings(out, primary, columns, rows, ids, extracted_at, known_orgs)
    results = pd.DataFrame.from_records(out.results, columns=RESULT_COLUMNS)
    found = pd.concat(out.rows, ignore_index=True) if out.rows else pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    return results, found


def _incident_warnings(out: _Findings, inc: pd.DataFrame, columns: dict[str, str], rows: pd.Series,
                       ids: pd.Series) -> None:
    if "reported_date" in columns:
        days = (pd.to_datetime(inc["reported_date"]) - pd.to_datetime(inc["occurred_date"])).dt.days
        limit = reporting_days()
        out.add(R.TIMELINESS__REPORTED_LATE, columns["reported_date"], days.notna(), days > limit, rows, ids,
                days.astype("Int64").astype("string") + " days after it occurred", f"within {limit} days")
    # The same test as the warehouse's Duty of Candour status (int_incident_duty_of_candour): moderate or worse
    # physical or psychological harm, and the duty not recorded as applying.
    harmful = inc["physical_harm_code"].isin(MODERATE_OR_WORSE) | inc["psychological_harm_code"].isin(
        PSYCHOLOGICAL_MODERATE_OR_WORSE)
    candour = inc["duty_of_candour"].astype("boolean")
    recorded = inc["duty_of_candour_source"].astype("string").fillna("(empty)")
    out.add(R.CANDOUR__NOT_RECORDED, columns.get("duty_of_candour", "duty_of_candour"), harmful,
            candour.ne(True).fillna(True), rows, ids,
            "harm " + inc["physical_harm_source"].astype("string").fillna("") + "; Duty of Candour: " + recorded,
            "Duty of Candour recorded as applying")


def _mapping_notes(out: _Findings, validated: ValidatedBatch, columns: dict[str, str], loaded: int) -> None:
    """Warnings the transform raised on rows that load (a local reference withheld as an NHS number)."""
    if "local_reference" not in columns:
        return
    notes = validated.notes if validated.notes is not None else pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    rule_id = R.LOCAL_REFERENCE__NHS_NUMBER
    part = notes[notes["rule_id"] == rule_id] if len(notes) else notes
    out.results.append(_result("canonical", f"canonical.{out.entity}", rule_id, columns["local_reference"], loaded,
                               int(part["source_row_number"].nunique()) if len(part) else 0))
    if len(part):
        rule = describe(rule_id)
        out.rows.append(pd.DataFrame({
            "source_row_number": part["source_row_number"].astype("Int64").to_numpy(),
            "source_record_id": part["source_record_id"].astype("string").to_numpy(),
            "rule_id": rule_id, "severity": rule.severity, "field": part["field"].to_numpy(),
            "found": part["found"].astype("string").to_numpy(), "expected": part["expected"].to_numpy(),
            "message": rule.description}))


def _action_warnings(out: _Findings, act: pd.DataFrame, columns: dict[str, str], rows: pd.Series, ids: pd.Series,
                     extracted_at: dt.datetime, known_orgs: set[str]) -> None:
    status = act["status_code"].astype("string")
    completed = pd.to_datetime(act["completed_date"])
    mismatch = ((status == "completed") & completed.isna()) | ((status == "open") & completed.notna())
    out.add(R.ACTION__COMPLETION_INCONSISTENT, columns.get("completed_date", columns["status"]),
            pd.Series(True, index=act.index), mismatch, rows, ids,
            "status " + act["status_source"].astype("string").fillna("") + ", completed "
            + completed.dt.strftime("%d/%m/%Y").fillna("(empty)"), "a completed date exactly when completed")
    due = pd.to_datetime(act["revised_due_date"]).fillna(pd.to_datetime(act["due_date"]))
    is_open = status == "open"
    out.add(R.ACTION__OVERDUE, columns.get("due_date", "due_date"), is_open & due.notna(),
            due < pd.Timestamp(extracted_at.date()), rows, ids, "due " + due.dt.strftime("%d/%m/%Y").fillna(""),
            f"completed, or due on or after {extracted_at:%d/%m/%Y}")
    if "owning_org_ods" in columns:
        ods = act["owning_org_ods"].astype("string").str.strip().str.upper()
        has = ods.notna()
        bad_format = ~ods.fillna("").str.match(ODS_FORMAT.pattern)
        out.add(R.ODS__BAD_FORMAT, columns["owning_org_ods"], has, bad_format, rows, ids, ods, "an ODS code")
        out.add(R.ODS__UNKNOWN, columns["owning_org_ods"], has & ~bad_format, ~ods.isin(known_orgs), rows, ids, ods,
                "an organisation known to the ICB")


# --- the assessment ----------------------------------------------------------------------------------------


def scores(results: pd.DataFrame) -> pd.DataFrame:
    """Per dimension: 100 * passed / evaluated over the row checks; 0 where a whole-batch error rule failed."""
    out = []
    row_checks = results[results["scope"] == "row"]
    fatal = results[(results["scope"] == "batch") & (results["severity"] == "error") & (results["rows_failed"] > 0)]
    for dimension in DIMENSIONS:
        part = row_checks[row_checks["dimension"] == dimension]
        evaluated, failed = int(part["rows_evaluated"].sum()), int(part["rows_failed"].sum())
        if dimension in set(fatal["dimension"]):
            batch_part = fatal[fatal["dimension"] == dimension]
            out.append({"dimension": dimension, "checks_evaluated": evaluated + int(batch_part["rows_evaluated"].sum()),
                        "checks_failed": failed + int(batch_part["rows_failed"].sum()), "score": 0.0})
        elif evaluated:
            out.append({"dimension": dimension, "checks_evaluated": evaluated, "checks_failed": failed,
                        "score": round(100.0 * (evaluated - failed) / evaluated, 2)})
    return pd.DataFrame.from_records(out, columns=SCORE_COLUMNS)


def chunk_findings(validated: ValidatedBatch, profile: MappingProfile, extracted_at: dt.datetime,
                   known_orgs: Iterable[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical rule results and warning findings for one chunk of a file; :func:`combine` adds chunks up."""
    checks = canonical_checks(validated.entity, profile, extracted_at)
    blocking = canonical_results(checks, validated.issues, validated.rows_in - validated.duplicates, validated.entity)
    warned, row_issues = warnings(validated, profile, extracted_at, set(known_orgs))
    results = pd.concat([p for p in (blocking, warned) if len(p)], ignore_index=True) \
        if len(blocking) or len(warned) else pd.DataFrame(columns=RESULT_COLUMNS)
    return results, row_issues


def combine(raw: pd.DataFrame, chunk_results: Sequence[pd.DataFrame], chunk_row_issues: Sequence[pd.DataFrame]
            ) -> Assessment:
    """One batch's assessment from its raw results and its chunks' results (rows evaluated and failed add up)."""
    keys = [c for c in RESULT_COLUMNS if c not in ("rows_evaluated", "rows_failed")]
    parts = [p for p in chunk_results if len(p)]
    canonical = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=RESULT_COLUMNS)
    if len(canonical):
        canonical = (canonical.astype({"rows_evaluated": "int64", "rows_failed": "int64"})
                     .groupby([canonical[k].astype("string").fillna("\x00") for k in keys], sort=False)
                     .agg({**{k: "first" for k in keys}, "rows_evaluated": "sum", "rows_failed": "sum"})
                     .reset_index(drop=True))
    if len(raw) and len(canonical):  # a rule the raw layer measures (e.g. FHIR elements) is not counted twice
        canonical = canonical[~canonical["rule_id"].isin(set(raw["rule_id"]))]
    results = pd.concat([p for p in (raw, canonical) if len(p)], ignore_index=True) if len(raw) or len(canonical) \
        else pd.DataFrame(columns=RESULT_COLUMNS)
    results = results.astype({"rows_evaluated": "int64", "rows_failed": "int64"})
    issues = [p for p in chunk_row_issues if len(p)]
    row_issues = pd.concat(issues, ignore_index=True) if issues else pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    return Assessment(rejected=False, results=results, row_issues=row_issues, scores=scores(results))


def assess(*, entity: str, profile: MappingProfile, extracted_at: dt.datetime, validated: ValidatedBatch | None,
           rejection: BatchRejected | None, raw: pd.DataFrame, known_orgs: Iterable[str] = (),
           notes: pd.DataFrame | None = None) -> Assessment:
    """Everything the checks found for one batch, loaded (``validated``) or rejected (``rejection``).

    ``raw``: the raw layer's results (:meth:`connectors.base.SourceFamily.raw_checks`; empty when the file could
    not be read); ``notes``: the raw-layer warnings as row findings (:func:`note_issues`). A rejection carries its
    rule id and row count (:class:`psirf.errors.BatchRejected`): nothing is read back out of its message."""
    parts = [raw]
    row_issues = pd.DataFrame(columns=ROW_ISSUE_COLUMNS)
    checks = canonical_checks(entity, profile, extracted_at)
    if validated is not None:
        rows = validated.rows_in - validated.duplicates
        parts.append(canonical_results(checks, validated.issues, rows, entity))
        warned, row_issues = warnings(validated, profile, extracted_at, set(known_orgs))
        parts.append(warned)
    elif rejection is not None:
        if isinstance(rejection, TooManyInvalid):
            issues = rejection.issues
            rows = int(issues["source_row_number"].nunique()) if len(issues) else 0
            parts.append(canonical_results(checks, issues, max(rows, rejection.rows_in or 0), entity))
            row_issues = issues.assign(severity="error")[ROW_ISSUE_COLUMNS]
        already = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) \
            else pd.DataFrame(columns=RESULT_COLUMNS)
        if not ((already["rule_id"] == rejection.rule_id) & (already["rows_failed"] > 0)).any():
            parts.append(rejection_result(entity, rejection))
    if notes is not None and len(notes):
        row_issues = pd.concat([p for p in (notes, row_issues) if len(p)], ignore_index=True)
    results = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) \
        else pd.DataFrame(columns=RESULT_COLUMNS)
    results = results.astype({"rows_evaluated": "int64", "rows_failed": "int64"})
    return Assessment(rejected=rejection is not None, results=results, row_issues=row_issues.reset_index(drop=True),
                      scores=scores(results))


# --- between the pipeline's steps --------------------------------------------------------------------------

_STAGED = {"results": "dq_results.parquet", "scores": "dq_scores.parquet", "row_issues": "dq_row_issues.parquet"}


def stage(work: Path, assessment: Assessment) -> None:
    """Write the assessment next to the batch's staged tables (pseudonymised data only, like them)."""
    work.mkdir(parents=True, exist_ok=True)
    for attr, name in _STAGED.items():
        frame: pd.DataFrame = getattr(assessment, attr)
        if attr == "row_issues":
            frame = frame.astype({c: "string" for c in ROW_ISSUE_COLUMNS if c != "source_row_number"}).astype(
                {"source_row_number": "Int64"})
        frame.to_parquet(work / name, index=False)


def staged(work: Path | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """(results, scores, row issues) staged by :func:`stage`, or None when there are none."""
    if work is None or not (work / _STAGED["results"]).is_file():
        return None
    results, scores, row_issues = (pd.read_parquet(work / name) for name in _STAGED.values())
    return results, scores, row_issues


def known_organisations() -> set[str]:
    """ODS codes the ICB knows: the registry's providers and the partner-trust reference list."""
    import csv

    from psirf.registry import load_registry
    from psirf.settings import REFERENCE_DIR

    with (REFERENCE_DIR / "essex_partner_trusts.csv").open(encoding="utf-8", newline="") as fh:
        codes = {row["ods_code"].strip().upper() for row in csv.DictReader(fh)}
    return codes | {p.ods_code for p in load_registry()}
