"""Raw batch + mapping profile -> canonical rows, plus the row-level problems found while mapping.

This is the step where patient identifiers stop: the NHS number leaves only as a keyed pseudonym, the date of
birth only as age at incident, and columns the profile does not map are never copied as they are (identifier-like
ones are dropped, others kept redacted as schema drift). Nothing here does I/O; the pseudonymisation key is
passed in.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import String

from connectors.base import RawBatch, field_of
from expectations.rules import R
from psirf.errors import BatchRejected
from transforms import normalise
from transforms.fields import ENTITY_FIELDS, FieldKind
from transforms.keys import natural_keys
from transforms.nhs_number import classify, describe, pseudonymise
from transforms.profile import EntityMapping, MappingProfile
from transforms.redact import nhs_number_like, redact_column
from transforms.tables import BUILDERS, KEY_COLUMN
from warehouse.models import CANONICAL_TABLES

ISSUE_COLUMNS = ["source_row_number", "source_record_id", "rule_id", "field", "found", "expected"]
RECORD_ID_FIELDS = frozenset({"source_record_id", "incident_source_record_id", "learning_response_source_record_id",
                              "incident_source_record_ids"})
"""Text fields that are keys: not redacted (every other text field is, as free text is)."""
_IDENTIFIER_NAME = re.compile(
    r"name|surname|forename|address|post\s*code|dob|birth|nhs|phone|tel\b|mobile|e-?mail|hospital\s*number|mrn",
    re.IGNORECASE)


@dataclass(frozen=True)
class BatchContext:
    provider_ods: str
    batch_id: str
    extracted_at: dt.datetime  # naive UTC; dates after it are "in the future"
    pseudonym_key: bytes


@dataclass
class CanonicalBatch:
    """Canonical tables for one batch. Every frame carries ``_row`` (source row number) and ``_group`` (the rows
    that stand or fall together: one row, or all rows of one incident when the source sends a row per patient)."""

    entity: str
    rows_in: int
    duplicates: int
    tables: dict[str, pd.DataFrame]
    issues: pd.DataFrame
    source_columns: dict[str, str]  # canonical field -> source column, to name fields as the provider knows them
    patient_level: bool = False
    deletions: pd.DataFrame | None = None  # primary key, source_updated_at, _row, _group
    schema_drift: str | None = None
    row_groups: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"_row": [], "_group": []}))
    notes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ISSUE_COLUMNS))
    """Warnings found while mapping (ISSUE_COLUMNS): the row loads, the provider is told (a withheld reference)."""

    @property
    def primary(self) -> str:
        return next(iter(self.tables))


class _Issues:
    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, rows: pd.Series, ids: pd.Series, mask: pd.Series, rule_id: str, field: str,
            found: pd.Series | str | None, expected: str) -> None:
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        found_values = found[mask].astype("string").str.slice(0, 200) if isinstance(found, pd.Series) else found
        self.parts.append(pd.DataFrame({
            "source_row_number": rows[mask].astype("int64"),
            "source_record_id": ids[mask].astype("string"),
            "rule_id": rule_id,
            "field": field,
            "found": found_values,
            "expected": expected,
        }))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="string") for c in ISSUE_COLUMNS}).astype(
                {"source_row_number": "int64"})
        frame = pd.concat(self.parts, ignore_index=True)
        # What was found is shown to providers and kept in the quarantine: never an identifier in clear.
        frame["found"] = redact_column(frame["found"].astype("string"))
        return frame


def human_format(fmt: str) -> str:
    for code, text in (("%d", "dd"), ("%m", "mm"), ("%Y", "yyyy"), ("%H", "HH"), ("%M", "MM"), ("%S", "SS")):
        fmt = fmt.replace(code, text)
    return fmt


def check_columns(raw: RawBatch, profile: MappingProfile, entity: str) -> dict[str, str]:
    """The profile's columns for ``entity`` that the file carries; rejects the batch, naming them, when a required
    one is missing (an ``optional`` field's column may be absent: the field is then not supplied, NULL)."""
    mapping = profile.entity(entity)
    missing = [f"{col!r} (for {fld})" for fld, col in mapping.required_columns().items() if col not in raw.columns]
    if missing:
        raise BatchRejected(raw.source_file, f"required column(s) missing: {', '.join(missing)}; the file has "
                                             f"{raw.columns}. Profile: {profile.name}", rule_id=R.RAW__COLUMN_MISSING,
                            rows_in=len(raw.frame) + len(raw.malformed),
                            field=", ".join(c for c in mapping.required_columns().values() if c not in raw.columns))
    if raw.frame.empty and not raw.malformed:
        raise BatchRejected(raw.source_file, "the file has a header but no data rows", rule_id=R.BATCH__EMPTY,
                            rows_in=0)
    return {fld: col for fld, col in mapping.columns.items() if col in raw.columns}


def schema_drift(raw: RawBatch, mapping: EntityMapping) -> tuple[list[str], list[str]]:
    """Columns the profile neither maps nor ignores: (kept as extra attributes, dropped as possible identifiers)."""
    known = set(mapping.columns.values()) | mapping.ignored_columns
    unknown = [c for c in raw.columns if c not in known and c]
    dropped = [c for c in unknown if _IDENTIFIER_NAME.search(c)]
    return [c for c in unknown if c not in dropped], dropped


def _extra_attributes(frame: pd.DataFrame, kept: list[str]) -> pd.Series:
    if not kept:
        return pd.Series(pd.NA, index=frame.index, dtype="string")
    cleaned = {c: redact_column(normalise.free_text(frame[c])) for c in kept}
    records = pd.DataFrame(cleaned, index=frame.index).astype(object)
    return pd.Series([json.dumps({k: v for k, v in rec.items() if isinstance(v, str)}, ensure_ascii=False,
                                 sort_keys=True) for rec in records.to_dict("records")],
                     index=frame.index, dtype="string")


def canonicalise(raw: RawBatch, profile: MappingProfile, entity: str, ctx: BatchContext,
                 conflicting_ids: frozenset[str] = frozenset()) -> CanonicalBatch:
    """``conflicting_ids``: record ids this part of a file shares with another part, with different content (the
    file is read in chunks; within one chunk the canonical suite finds them itself)."""
    columns = check_columns(raw, profile, entity)
    mapping = profile.entity(entity)
    spec = ENTITY_FIELDS[entity]
    issues = _Issues()
    notes = _Issues()  # warnings found while mapping: the row loads, the provider is told

    frame = raw.frame.copy()
    rows = pd.Series(raw.row_numbers, index=frame.index, dtype="int64")
    rows_in = len(frame) + len(raw.malformed)
    for bad in raw.malformed:  # Malformed (or a plain (row, rule id, problem) tuple)
        issues.parts.append(pd.DataFrame([{"source_row_number": bad[0], "source_record_id": None,
                                           "rule_id": bad[1], "field": field_of(bad),
                                           "found": bad[2], "expected": "a complete record"}]))

    duplicated = frame.duplicated(keep="first")
    duplicates = int(duplicated.sum())
    frame, rows = frame[~duplicated], rows[~duplicated]

    ids = normalise.squeeze(frame[columns["source_record_id"]])
    if conflicting_ids:
        issues.add(rows, ids, ids.isin(conflicting_ids), R.RECORD__CONFLICTING_DUPLICATE, columns["source_record_id"],
                   ids, "a record id that appears once in the file")
    values: dict[str, pd.Series] = {}
    sources: dict[str, pd.Series] = {}
    occurred: pd.Series | None = None
    dob_field: str | None = None

    for fld, col in columns.items():
        kind = spec[fld].kind
        raw_col = frame[col]
        text = normalise.squeeze(raw_col)
        if kind in (FieldKind.CODE, FieldKind.BOOL) and profile.unknown_values:
            # "I don't know" is an answer, recorded as NULL on purpose (not a silent coercion of bad input).
            text = text.mask(normalise.fold(text).isin(profile.unknown_values).fillna(False).astype(bool))
        if kind is FieldKind.TEXT and fld in RECORD_ID_FIELDS:
            values[fld] = text  # keys: a record id is never an identifier of a person
        elif kind is FieldKind.TEXT:
            if fld == "local_reference":
                text = _withhold_nhs_numbers(text, rows, ids, col, notes)
            values[fld] = redact_column(text)
        elif kind is FieldKind.FREE_TEXT:
            values[fld] = redact_column(normalise.free_text(raw_col))
        elif kind is FieldKind.CODE:
            label = normalise.strip_label_prefixes(text, profile.label_prefix_patterns)
            codes = normalise.fold(label).map(mapping.codes.get(fld, {})).astype("string")
            unknown = text.notna() & codes.isna()
            issues.add(rows, ids, unknown, R.CODE__UNKNOWN, col, text,
                       "one of: " + "; ".join(mapping.code_labels.get(fld, {}))[:400])
            values[fld] = codes
            sources[fld] = redact_column(raw_col.astype("string").str.strip().mask(text.isna()))
        elif kind in (FieldKind.DATE, FieldKind.DATETIME, FieldKind.DATE_OF_BIRTH):
            fmt = profile.datetime_format if kind is FieldKind.DATETIME else profile.date_format
            parsed, bad = normalise.parse_dates(text, fmt)
            found = "a value that is not a date in the agreed layout" if kind is FieldKind.DATE_OF_BIRTH else text
            issues.add(rows, ids, bad, R.DATE__UNPARSEABLE, col, found, f"a date as {human_format(fmt)}")
            values[fld] = parsed
            if fld == "occurred_date":
                occurred = parsed
            if kind is FieldKind.DATE_OF_BIRTH:
                dob_field = fld
        elif kind is FieldKind.TIME:
            parsed_t, bad = normalise.parse_times(text)
            issues.add(rows, ids, bad, R.TIME__UNPARSEABLE, col, text, "a 24-hour time as HH:MM or HHMM")
            values[fld] = parsed_t
        elif kind is FieldKind.BOOL:
            parsed_b, bad = normalise.parse_bools(text, profile.true_values, profile.false_values)
            issues.add(rows, ids, bad, R.BOOL__UNPARSEABLE, col, text, "yes or no")
            values[fld] = parsed_b
            sources[fld] = redact_column(text)
        elif kind is FieldKind.INT:
            parsed_i, bad = normalise.parse_ints(text)
            issues.add(rows, ids, bad, R.NUMBER__UNPARSEABLE, col, text, "a whole number")
            values[fld] = parsed_i
        elif kind is FieldKind.NHS_NUMBER:
            values[fld] = _pseudonymise_column(text, rows, ids, col, ctx, issues)

    if dob_field is not None:
        values.update(_ages_from_dob(values.pop(dob_field), occurred, rows, ids, columns[dob_field], issues))
    elif "age_at_incident_days" in values:
        values.update(_ages_from_days(values.pop("age_at_incident_days")))

    rejected = mapping.rejected_when
    if rejected is not None and rejected.field in values:
        flagged = values[rejected.field].isin(rejected.values).fillna(False).astype(bool)
        issues.add(rows, ids, flagged, R.RECORD__REJECTED_IN_SOURCE, columns[rejected.field], values[rejected.field],
                   "an approved record")

    kept, dropped = schema_drift(raw, mapping)
    fields = pd.DataFrame(values, index=frame.index)
    fields["extra_attributes"] = _extra_attributes(frame, kept)
    fields["_row"] = rows
    patient_level = "patient_sequence" in columns
    # Rows that stand or fall together: all rows of one record when the source sends a row per patient.
    fields["_group"] = ids.fillna("\x00row" + rows.astype("string")) if patient_level else rows.astype("string")

    is_deletion = fields["is_deleted"].fillna(False).astype(bool) if "is_deleted" in fields else \
        pd.Series(False, index=fields.index)
    deletions = _deletions(fields[is_deletion], entity, ctx) if is_deletion.any() else None
    tables = BUILDERS[entity](fields[~is_deletion], sources, profile, ctx)
    _check_lengths(tables, columns, issues)
    drift = "; ".join(part for part in (
        f"new columns kept in extra_attributes: {', '.join(kept)}" if kept else "",
        f"new columns dropped as possible identifiers: {', '.join(dropped)}" if dropped else "") if part) or None
    return CanonicalBatch(entity=entity, rows_in=rows_in, duplicates=duplicates, tables=tables,
                          issues=issues.frame(), source_columns=dict(columns), patient_level=patient_level,
                          deletions=deletions, schema_drift=drift, row_groups=fields[["_row", "_group"]],
                          notes=notes.frame())


def _check_lengths(tables: dict[str, pd.DataFrame], columns: dict[str, str], issues: _Issues) -> None:
    """A value longer than its warehouse column (a long location, reference or label) quarantines its row
    (``text.too_long``, naming the source column and the length, not the value), rather than failing the load."""
    for name, frame in tables.items():
        table = CANONICAL_TABLES.get(name)
        if table is None or frame.empty or "_row" not in frame:
            continue
        for column in table.columns:
            length = getattr(column.type, "length", None)
            if length is None or column.name not in frame or not isinstance(column.type, String):
                continue
            values = frame[column.name]
            if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
                continue
            chars = values.astype("string").str.len()
            too_long = (chars > length).fillna(False).astype(bool)
            if not too_long.any():
                continue
            fld = column.name.removesuffix("_source").removesuffix("_code")
            source_column = columns.get(fld, columns.get(column.name, column.name))
            found = chars.astype("Int64").astype("string") + f" characters, more than {length}"
            ids = frame["source_record_id"] if "source_record_id" in frame else \
                pd.Series(pd.NA, index=frame.index, dtype="string")
            issues.add(frame["_row"], ids, too_long, R.TEXT__TOO_LONG, source_column, found,
                       f"at most {length} characters")


def _withhold_nhs_numbers(text: pd.Series, rows: pd.Series, ids: pd.Series, col: str, notes: _Issues) -> pd.Series:
    """A local reference that is, separators aside, a valid NHS number is withheld (NULL), with a note the provider
    sees; the incident itself loads. The note describes the value, never repeats it."""
    withheld = nhs_number_like(text)
    notes.add(rows, ids, withheld, R.LOCAL_REFERENCE__NHS_NUMBER, col, "10 digits that pass the NHS number check",
              "the provider's own reference for the incident, never an NHS number")
    return text.mask(withheld)


def _deletions(fields: pd.DataFrame, entity: str, ctx: BatchContext) -> pd.DataFrame:
    ods = pd.Series(ctx.provider_ods, index=fields.index, dtype="string")
    updated = fields["source_updated_at"] if "source_updated_at" in fields else pd.Series(pd.NaT, index=fields.index)
    return pd.DataFrame({
        KEY_COLUMN[entity]: natural_keys(ods, fields["source_record_id"]),
        "source_record_id": fields["source_record_id"],
        "source_updated_at": updated,
        "_row": fields["_row"],
        "_group": fields["_group"],
    }).drop_duplicates(subset=[KEY_COLUMN[entity]], keep="last")


def _pseudonymise_column(text: pd.Series, rows: pd.Series, ids: pd.Series, col: str, ctx: BatchContext,
                         issues: _Issues) -> pd.Series:
    """Keyed pseudonym of each valid NHS number; each invalid one is reported (described, never repeated).

    Classified and hashed once per distinct value, then mapped back column-wise (no per-row assignment)."""
    verdicts: dict[str, tuple[str | None, str | None, str | None]] = {}
    for value in text.dropna().unique().tolist():
        digits, rule_id = classify(str(value))
        if digits is not None:
            verdicts[value] = (pseudonymise(digits, ctx.pseudonym_key), None, None)
        else:
            assert rule_id is not None
            verdicts[value] = (None, rule_id, describe(str(value), rule_id))
    out = text.map({v: p for v, (p, _, _) in verdicts.items()}).astype("string")
    rule_of = text.map({v: r for v, (_, r, _) in verdicts.items()}).astype("string")
    described = text.map({v: d for v, (_, _, d) in verdicts.items()}).astype("string")
    for rule_id in sorted(set(rule_of.dropna().unique().tolist())):
        issues.add(rows, ids, rule_of == rule_id, rule_id, col, described,
                   "a 10-digit NHS number with a valid check digit")
    return out


_AGE_BRACKET_EDGES_YEARS = [(1, "4"), (5, "5"), (10, "6"), (16, "7"), (18, "8"), (26, "9"), (46, "10"), (66, "11"),
                            (86, "12")]


def _bracket(days: pd.Series, years: pd.Series) -> pd.Series:
    """LFPSE age-brackets-5 code from age in days and whole years."""
    bracket = pd.Series(pd.NA, index=days.index, dtype="string")
    bracket = bracket.mask(days.between(0, 14), "1").mask(days.between(15, 28), "2")
    bracket = bracket.mask((days > 28) & (years < 1), "3")
    for lower, code in _AGE_BRACKET_EDGES_YEARS:
        bracket = bracket.mask(years >= lower, code)
    return bracket.where(days >= 0)


def _ages_from_dob(dob: pd.Series, occurred: pd.Series | None, rows: pd.Series, ids: pd.Series, col: str,
                   issues: _Issues) -> dict[str, pd.Series]:
    """Age at incident (years) and LFPSE age bracket from the date of birth, which is then dropped."""
    if occurred is None:
        empty = pd.Series(pd.NA, index=dob.index)
        return {"age_at_incident_years": empty.astype("Int64"), "age_bracket_code": empty.astype("string")}
    # An occurred date that is itself a placeholder says nothing about the date of birth: no age, no DOB rule.
    occurred = occurred.where(occurred >= pd.Timestamp(1990, 1, 1))
    days = (occurred - dob).dt.days
    issues.add(rows, ids, days < 0, R.DOB__AFTER_INCIDENT, col, "a date of birth after the incident date",
               "a date of birth on or before the incident date")
    years = (occurred.dt.year - dob.dt.year - (
        (occurred.dt.month * 100 + occurred.dt.day) < (dob.dt.month * 100 + dob.dt.day)).astype("Int64"))
    years = years.where(days >= 0).astype("Int64")
    return {"age_at_incident_years": years, "age_bracket_code": _bracket(days, years)}


def _ages_from_days(days: pd.Series) -> dict[str, pd.Series]:
    years = (days.astype("Float64") / 365.25).apply(lambda v: pd.NA if pd.isna(v) else int(v)).astype("Int64")
    return {"age_at_incident_years": years, "age_bracket_code_derived": _bracket(days, years)}
