"""Canonical batch -> valid rows, quarantined rows with reasons, and a batch verdict.

Row-level problems come from two places: the transform (values it could not read) and the GX suites (rules over
the canonical values). A row is quarantined once however many rules it fails; every failure is recorded.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from expectations.canonical_suites import SUITES, failed_to_run, validate_parts
from expectations.rules import RULES, R
from psirf.errors import BatchRejected
from transforms.canonicalise import ISSUE_COLUMNS, CanonicalBatch


@dataclass
class ValidatedBatch:
    """What may be loaded (``tables``, without helper columns) and what is held back (``issues``)."""

    entity: str
    rows_in: int
    duplicates: int
    quarantined: int  # distinct source rows held back
    tables: dict[str, pd.DataFrame]
    issues: pd.DataFrame  # ISSUE_COLUMNS + message
    source_rows: pd.Series | None = None  # source row number of each row of the primary table (for warnings)
    deletions: pd.DataFrame | None = None  # records deleted upstream: primary key, source_updated_at
    schema_drift: str | None = None
    notes: pd.DataFrame | None = None  # warnings found while mapping, on rows that load (ISSUE_COLUMNS)

    @property
    def loadable(self) -> int:
        """Source rows that will be loaded (rows, not records: with a row per patient they differ)."""
        return self.rows_in - self.duplicates - self.quarantined


class TooManyInvalid(BatchRejected):
    """Rejected for the share of invalid rows; carries the row-level issues so the provider can see them."""

    def __init__(self, source_file: str, problem: str, issues: pd.DataFrame, rows_in: int) -> None:
        super().__init__(source_file, problem, rule_id=R.BATCH__TOO_MANY_INVALID, layer="canonical", rows_in=rows_in)
        self.issues = issues


def _gx_issues(frame: pd.DataFrame, result: Any, source_columns: dict[str, str],
               extracted_at: dt.datetime) -> pd.DataFrame:
    """The rows of ``frame`` (a table of one chunk, with ``_row``) that the table's suite, run over the whole batch
    (``result``), found failing: one issue per row and failed expectation, in the suite's order."""
    parts: list[pd.DataFrame] = []
    for outcome in result.results:
        config = outcome.expectation_config
        meta = config.meta or {}
        problem = failed_to_run(outcome)
        if problem is not None:
            raise RuntimeError(f"validation rule {meta.get('rule_id')} failed to run: {problem}")
        if outcome.success or meta.get("rule_id") == R.BATCH__EMPTY:
            continue
        failing = _failing_rows(outcome.result.get("unexpected_index_list") or [])
        if not failing:
            continue
        sub = frame[frame["_row"].isin(failing)]
        if sub.empty:  # the failing rows are in another chunk of the batch
            continue
        column = meta.get("found_column") or config.kwargs.get("column") or config.kwargs.get("column_A")
        found = sub[column].astype("string") if column and column in sub else None
        if meta["field"] in ("nhs_number", "date_of_birth"):
            found = None  # never repeat identifiers
        parts.append(pd.DataFrame({
            "source_row_number": sub["_row"].astype("int64").to_numpy(),
            "source_record_id": sub["source_record_id"].astype("string").to_numpy(),
            "rule_id": meta["rule_id"],
            "field": source_columns.get(meta["field"], meta["field"]),
            "found": found.to_numpy() if found is not None else None,
            "expected": _expected(config, extracted_at),
        }))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ISSUE_COLUMNS)


def _failing_rows(index_list: list[dict[str, Any]]) -> set[int]:
    """The ``_row`` values GX lists: one dict per row, or (values excluded) one dict of lists."""
    rows: set[int] = set()
    for entry in index_list:
        value = entry["_row"]
        rows.update(int(v) for v in value) if isinstance(value, list) else rows.add(int(value))
    return rows


def validate_tables(tables: dict[str, list[Path]], patient_level: bool, batch: str = "batch") -> dict[str, Any]:
    """The canonical suites, once per table over a whole batch's staged parts (:func:`validate_parts`): the
    results :func:`validate` sorts into each chunk's issues."""
    return {table: validate_parts(table, parts, patient_level, batch)
            for table, parts in tables.items() if table in SUITES and parts}


def _validate_in_place(batch: CanonicalBatch) -> dict[str, Any]:
    """A batch held whole in memory (``psirf check``) is staged to a scratch folder and validated the same way."""
    with tempfile.TemporaryDirectory(prefix="psirf-check-") as scratch:
        parts: dict[str, list[Path]] = {}
        for table, frame in batch.tables.items():
            if len(frame) and table in SUITES:
                path = Path(scratch) / f"{table}.parquet"
                frame.drop(columns=_helpers(frame, keep=("_row", "_event_type"))).to_parquet(path, index=False)
                parts[table] = [path]
        return validate_tables(parts, batch.patient_level)


def _expected(config: object, extracted_at: dt.datetime) -> str:
    kwargs = getattr(config, "kwargs", {})
    if (getattr(config, "meta", None) or {}).get("rule_id") == R.DATE__IN_FUTURE:
        return f"on or before {extracted_at:%Y-%m-%d} (the extraction date)"
    if "value_set" in kwargs:
        return "one of: " + ", ".join(map(str, kwargs["value_set"]))
    if "column_B" in kwargs:
        return f"on or after {kwargs['column_B']}"
    if kwargs.get("min_value") is not None and kwargs.get("max_value") is None:
        return f"on or after {kwargs['min_value']:%Y-%m-%d}" if isinstance(kwargs["min_value"], dt.datetime) \
            else f"at least {kwargs['min_value']}"
    if kwargs.get("max_value") is not None and isinstance(kwargs["max_value"], dt.datetime):
        return f"on or before {kwargs['max_value']:%Y-%m-%d} (the extraction date)"
    if "regex" in kwargs:
        return "a valid value"
    return "a value"


def check_invalid_share(rows_in: int, quarantined: int, issues: pd.DataFrame, max_invalid_share: float,
                        source_file: str) -> None:
    """Reject the whole batch (:class:`TooManyInvalid`) when more than the allowed share of its rows is invalid."""
    share = quarantined / rows_in if rows_in else 1.0
    if share > max_invalid_share:
        raise TooManyInvalid(source_file, f"{quarantined} of {rows_in} rows ({share:.0%}) are invalid, more "
                                          f"than the allowed {max_invalid_share:.0%}; most common problems: "
                                          + ", ".join(_label(p, n) for p, n in most_common_problems(issues)),
                             issues, rows_in)


def _label(problem: str, count: int) -> str:
    """``code.unknown (3): Actual Harm`` — the rule, how many rows, and what it was about."""
    rule_id, _, fld = problem.partition(": ")
    return f"{rule_id} ({count})" + (f": {fld}" if fld else "")


def most_common_problems(issues: pd.DataFrame, n: int = 3) -> list[tuple[str, int]]:
    """The ``n`` most frequent (rule, field) pairs as ``rule: field`` labels with their counts, so a one-line
    message says *what* is wrong (``fhir.missing_element: meta.lastUpdated``), not only which rule."""
    if not len(issues):
        return []
    fields = issues["field"].astype("string") if "field" in issues else pd.Series(pd.NA, index=issues.index)
    labels = issues["rule_id"].astype("string").str.cat(fields.fillna(""), sep=": ").str.removesuffix(": ")
    return [(str(k), int(v)) for k, v in labels.value_counts().head(n).items()]


def validate(batch: CanonicalBatch, extracted_at: dt.datetime, max_invalid_share: float,
             source_file: str, suite_results: dict[str, Any] | None = None) -> ValidatedBatch:
    """Apply the canonical suites; reject the whole batch when too large a share of rows is invalid.

    ``suite_results``: the suites' results over the whole batch this part of a file belongs to
    (:func:`validate_tables`); without them the batch is validated on its own."""
    if suite_results is None:
        suite_results = _validate_in_place(batch)
    found = [batch.issues]
    for table, frame in batch.tables.items():
        if len(frame) and table in suite_results:
            found.append(_gx_issues(frame, suite_results[table], batch.source_columns, extracted_at))
    issues = pd.concat([f for f in found if len(f)], ignore_index=True) if any(len(f) for f in found) \
        else batch.issues
    if len(issues):
        # A value the transform could not read is NULL afterwards: don't also report it as missing.
        issues = _drop_echoes(issues)
        issues["message"] = issues["rule_id"].map(lambda r: RULES[r].description if r in RULES else r)
    else:
        issues = issues.assign(message=pd.Series(dtype="string"))
    issues, bad_groups = _hold_back_whole_records(batch, issues)
    bad_rows = set(issues["source_row_number"].astype(int))
    quarantined = len(bad_rows)
    check_invalid_share(batch.rows_in, quarantined, issues, max_invalid_share, source_file)
    primary = batch.primary
    keep = ~batch.tables[primary]["_group"].isin(bad_groups)
    tables = {name: frame[~frame["_group"].isin(bad_groups)].drop(columns=_helpers(frame)).reset_index(drop=True)
              for name, frame in batch.tables.items()}
    deletions = None
    if batch.deletions is not None:
        deletions = batch.deletions[~batch.deletions["_group"].isin(bad_groups)].drop(columns=["_row", "_group"])
    notes = batch.notes[~batch.notes["source_row_number"].astype(int).isin(bad_rows)] if len(batch.notes) \
        else batch.notes
    loaded_rows = set(batch.row_groups.loc[~batch.row_groups["_group"].isin(bad_groups), "_row"].astype(int))
    notes = notes[notes["source_row_number"].astype(int).isin(loaded_rows)] if len(notes) else notes
    return ValidatedBatch(entity=batch.entity, rows_in=batch.rows_in, duplicates=batch.duplicates,
                          quarantined=quarantined, tables=tables, issues=issues.reset_index(drop=True),
                          source_rows=batch.tables[primary].loc[keep, "_row"].astype("int64").reset_index(drop=True),
                          deletions=deletions, schema_drift=batch.schema_drift,
                          notes=notes.drop_duplicates(subset=["source_record_id", "rule_id"]).reset_index(drop=True))


def _helpers(frame: pd.DataFrame, keep: str | tuple[str, ...] = ()) -> list[str]:
    """Helper columns (named ``_…``) that travel with canonical frames but are not loaded."""
    kept = (keep,) if isinstance(keep, str) else keep
    return [c for c in frame.columns if c.startswith("_") and c not in kept]


def _hold_back_whole_records(batch: CanonicalBatch, issues: pd.DataFrame) -> tuple[pd.DataFrame, set[str]]:
    """A record is loaded whole or not at all: when one of its rows fails (one row per patient), its other rows
    are held back too, each with a reason, so the ledger still accounts for every row."""
    groups = batch.row_groups
    failed = set(issues["source_row_number"].astype(int))
    bad_groups = set(groups.loc[groups["_row"].isin(failed), "_group"])
    companions = groups[groups["_group"].isin(bad_groups) & ~groups["_row"].isin(failed)]
    if companions.empty:
        return issues, bad_groups
    rule = RULES[R.RECORD__INCOMPLETE]
    extra = pd.DataFrame({
        "source_row_number": companions["_row"].astype("int64").to_numpy(),
        # the group is the record id, or a row marker (starting with NUL) for a row that has none
        "source_record_id": companions["_group"].astype("string").where(
            ~companions["_group"].astype("string").str.startswith("\x00")).to_numpy(),
        "rule_id": rule.rule_id,
        "field": None,
        "found": "another row of the same record failed a rule",
        "expected": "every row of the record valid",
        "message": rule.description,
    })
    return pd.concat([issues, extra], ignore_index=True), bad_groups


_ECHO_RULES = {R.REQUIRED__MISSING, R.DATE__PLACEHOLDER, R.DATE__IN_FUTURE, R.DATE__ORDER, R.CODE__UNKNOWN,
               R.DOB__IMPLAUSIBLE, R.NHS_NUMBER__BAD_FORMAT}


def _drop_echoes(issues: pd.DataFrame) -> pd.DataFrame:
    """Drop a suite failure on a (row, field) the transform already reported: it is the same problem twice."""
    transform_rules = {R.DATE__UNPARSEABLE, R.TIME__UNPARSEABLE, R.BOOL__UNPARSEABLE, R.CODE__UNKNOWN,
                       R.NHS_NUMBER__BAD_FORMAT, R.NHS_NUMBER__SCIENTIFIC_NOTATION, R.NHS_NUMBER__INVALID_CHECK_DIGIT,
                       R.DOB__AFTER_INCIDENT}
    first = issues[issues["rule_id"].isin(transform_rules)]
    reported = set(zip(first["source_row_number"].astype(int), first["field"], strict=True))
    pairs = list(zip(issues["source_row_number"].astype(int), issues["field"], strict=True))
    echo = pd.Series([p in reported for p in pairs], index=issues.index) & issues["rule_id"].isin(_ECHO_RULES) & \
        ~issues.index.isin(first.index)
    return issues[~echo].drop_duplicates(subset=["source_row_number", "rule_id", "field"])
