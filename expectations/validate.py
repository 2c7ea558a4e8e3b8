"""Canonical batch -> valid rows, quarantined rows with reasons, and a batch verdict.

Row-level problems come from two places: the transform (values it could not read) and the GX suites (rules over
the canonical values). A row is quarantined once however many rules it fails; every failure is recorded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from expectations.canonical_suites import validate_frame
from expectations.rules import RULES
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

    @property
    def loadable(self) -> int:
        return len(next(iter(self.tables.values())))


class TooManyInvalid(BatchRejected):
    """Rejected for the share of invalid rows; carries the row-level issues so the provider can see them."""

    def __init__(self, source_file: str, problem: str, issues: pd.DataFrame) -> None:
        super().__init__(source_file, problem)
        self.issues = issues


def _gx_issues(table: str, frame: pd.DataFrame, extracted_at: dt.datetime,
               source_columns: dict[str, str]) -> pd.DataFrame:
    result = validate_frame(table, frame.drop(columns=["_row"]), extracted_at)
    parts: list[pd.DataFrame] = []
    for outcome in result.results:
        config = outcome.expectation_config
        meta = config.meta or {}
        if outcome.exception_info.get("raised_exception"):
            raise RuntimeError(f"validation rule {meta.get('rule_id')} failed to run: "
                               f"{outcome.exception_info.get('exception_message')}")
        if outcome.success or meta.get("rule_id") == "batch.empty":
            continue
        index = outcome.result.get("unexpected_index_list") or []
        if not index:
            continue
        column = config.kwargs.get("column") or config.kwargs.get("column_A")
        sub = frame.loc[index]
        found = sub[column].astype("string") if column and column in sub else None
        if meta["field"] in ("nhs_number", "date_of_birth"):
            found = None  # never repeat identifiers
        parts.append(pd.DataFrame({
            "source_row_number": sub["_row"].astype("int64").to_numpy(),
            "source_record_id": sub["source_record_id"].astype("string").to_numpy(),
            "rule_id": meta["rule_id"],
            "field": source_columns.get(meta["field"], meta["field"]),
            "found": found.to_numpy() if found is not None else None,
            "expected": _expected(config),
        }))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ISSUE_COLUMNS)


def _expected(config: object) -> str:
    kwargs = getattr(config, "kwargs", {})
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


def validate(batch: CanonicalBatch, extracted_at: dt.datetime, max_invalid_share: float,
             source_file: str) -> ValidatedBatch:
    """Apply the canonical suites; reject the whole batch when too large a share of rows is invalid."""
    found = [batch.issues]
    for table, frame in batch.tables.items():
        if len(frame):
            found.append(_gx_issues(table, frame, extracted_at, batch.source_columns))
    issues = pd.concat([f for f in found if len(f)], ignore_index=True) if any(len(f) for f in found) \
        else batch.issues
    if len(issues):
        # A value the transform could not read is NULL afterwards: don't also report it as missing.
        issues = _drop_echoes(issues)
        issues["message"] = issues["rule_id"].map(lambda r: RULES[r].description if r in RULES else r)
    else:
        issues = issues.assign(message=pd.Series(dtype="string"))
    bad_rows = set(issues["source_row_number"].astype(int))
    quarantined = len(bad_rows)
    share = quarantined / batch.rows_in if batch.rows_in else 1.0
    if share > max_invalid_share:
        top = issues["rule_id"].value_counts().head(3)
        raise TooManyInvalid(source_file, f"{quarantined} of {batch.rows_in} rows ({share:.0%}) are invalid, more "
                                          f"than the allowed {max_invalid_share:.0%}; most common problems: "
                                          + ", ".join(f"{r} ({n})" for r, n in top.items()), issues)
    primary = batch.primary
    keep = ~batch.tables[primary]["_row"].isin(bad_rows)
    valid_keys = set(batch.tables[primary].loc[keep, "_row"])
    tables = {name: frame[frame["_row"].isin(valid_keys)].drop(columns=["_row"]).reset_index(drop=True)
              for name, frame in batch.tables.items()}
    return ValidatedBatch(entity=batch.entity, rows_in=batch.rows_in, duplicates=batch.duplicates,
                          quarantined=quarantined, tables=tables, issues=issues.reset_index(drop=True),
                          source_rows=batch.tables[primary].loc[keep, "_row"].astype("int64").reset_index(drop=True))


_ECHO_RULES = {"required.missing", "date.placeholder", "date.in_future", "date.order", "code.unknown",
               "dob.implausible", "nhs_number.bad_format"}


def _drop_echoes(issues: pd.DataFrame) -> pd.DataFrame:
    """Drop a suite failure on a (row, field) the transform already reported: it is the same problem twice."""
    transform_rules = {"date.unparseable", "time.unparseable", "bool.unparseable", "code.unknown",
                       "nhs_number.bad_format", "nhs_number.scientific_notation", "nhs_number.invalid_check_digit",
                       "dob.after_incident"}
    first = issues[issues["rule_id"].isin(transform_rules)]
    reported = set(zip(first["source_row_number"].astype(int), first["field"], strict=True))
    pairs = list(zip(issues["source_row_number"].astype(int), issues["field"], strict=True))
    echo = pd.Series([p in reported for p in pairs], index=issues.index) & issues["rule_id"].isin(_ECHO_RULES) & \
        ~issues.index.isin(first.index)
    return issues[~echo].drop_duplicates(subset=["source_row_number", "rule_id", "field"])
