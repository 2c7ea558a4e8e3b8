"""Raw batch + mapping profile -> canonical rows, plus the row-level problems found while mapping.

This is the step where patient identifiers stop: the NHS number leaves only as a keyed pseudonym, the date of
birth only as age at incident, and columns the profile does not map (names, addresses, postcodes) are never
read. Nothing here does I/O; the pseudonymisation key is passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from connectors.filedrop import RawBatch
from psirf.errors import BatchRejected
from transforms import normalise
from transforms.fields import ENTITY_FIELDS, FieldKind
from transforms.keys import natural_keys, row_hashes
from transforms.nhs_number import classify, describe, pseudonymise
from transforms.profile import MappingProfile
from transforms.redact import redact
from warehouse.models import CANONICAL_TABLES

ISSUE_COLUMNS = ["source_row_number", "source_record_id", "rule_id", "field", "found", "expected"]
NON_CONTENT = {"batch_id", "extracted_at", "row_hash", "loaded_at", "updated_at"}
_AGE_BRACKET_EDGES_YEARS = [(1, "4"), (5, "5"), (10, "6"), (16, "7"), (18, "8"), (26, "9"), (46, "10"), (66, "11"),
                            (86, "12")]


@dataclass(frozen=True)
class BatchContext:
    provider_ods: str
    batch_id: str
    extracted_at: dt.datetime  # naive UTC; dates after it are "in the future"
    pseudonym_key: bytes


@dataclass
class CanonicalBatch:
    """Canonical tables for one batch, each with a ``_row`` column (source row number) for quarantine joins."""

    entity: str
    rows_in: int
    duplicates: int
    tables: dict[str, pd.DataFrame]
    issues: pd.DataFrame
    source_columns: dict[str, str]  # canonical field -> source column, to name fields as the provider knows them

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
        return pd.concat(self.parts, ignore_index=True)


def human_format(fmt: str) -> str:
    for code, text in (("%d", "dd"), ("%m", "mm"), ("%Y", "yyyy"), ("%H", "HH"), ("%M", "MM"), ("%S", "SS")):
        fmt = fmt.replace(code, text)
    return fmt


def check_columns(raw: RawBatch, profile: MappingProfile, entity: str) -> dict[str, str]:
    """The profile's columns for ``entity``; rejects the batch, naming them, when any is missing from the file."""
    mapping = profile.entity(entity)
    missing = [f"{col!r} (for {fld})" for fld, col in mapping.columns.items() if col not in raw.columns]
    if missing:
        raise BatchRejected(raw.source_file, f"required column(s) missing: {', '.join(missing)}; the file has "
                                             f"{raw.columns}. Profile: {profile.name}")
    if raw.frame.empty and not raw.malformed:
        raise BatchRejected(raw.source_file, "the file has a header but no data rows")
    return mapping.columns


def canonicalise(raw: RawBatch, profile: MappingProfile, entity: str, ctx: BatchContext) -> CanonicalBatch:
    columns = check_columns(raw, profile, entity)
    mapping = profile.entity(entity)
    spec = ENTITY_FIELDS[entity]
    issues = _Issues()

    frame = raw.frame.copy()
    rows = pd.Series(raw.row_numbers, index=frame.index, dtype="int64")
    rows_in = len(frame) + len(raw.malformed)
    for row_number, rule_id, problem in raw.malformed:
        issues.parts.append(pd.DataFrame([{"source_row_number": row_number, "source_record_id": None,
                                           "rule_id": rule_id, "field": None, "found": problem,
                                           "expected": "a complete record"}]))

    duplicated = frame.duplicated(keep="first")
    duplicates = int(duplicated.sum())
    frame, rows = frame[~duplicated], rows[~duplicated]

    ids = normalise.squeeze(frame[columns["source_record_id"]])
    values: dict[str, pd.Series] = {}
    sources: dict[str, pd.Series] = {}
    occurred: pd.Series | None = None
    dob_field: str | None = None

    for fld, col in columns.items():
        kind = spec[fld].kind
        raw_col = frame[col]
        text = normalise.squeeze(raw_col)
        if kind is FieldKind.TEXT:
            values[fld] = text
        elif kind is FieldKind.FREE_TEXT:
            cleaned = normalise.free_text(raw_col)
            values[fld] = cleaned.map(redact, na_action="ignore").astype("string")
        elif kind is FieldKind.CODE:
            label = normalise.strip_label_prefixes(text, profile.label_prefix_patterns)
            codes = normalise.fold(label).map(mapping.codes.get(fld, {})).astype("string")
            unknown = text.notna() & codes.isna()
            issues.add(rows, ids, unknown, "code.unknown", col, text,
                       "one of: " + "; ".join(mapping.code_labels.get(fld, {}))[:400])
            values[fld] = codes
            sources[fld] = raw_col.astype("string").str.strip().mask(text.isna())
        elif kind in (FieldKind.DATE, FieldKind.DATETIME, FieldKind.DATE_OF_BIRTH):
            fmt = profile.datetime_format if kind is FieldKind.DATETIME else profile.date_format
            parsed, bad = normalise.parse_dates(text, fmt)
            found = "a value that is not a date in the agreed layout" if kind is FieldKind.DATE_OF_BIRTH else text
            issues.add(rows, ids, bad, "date.unparseable", col, found, f"a date as {human_format(fmt)}")
            values[fld] = parsed
            if fld == "occurred_date":
                occurred = parsed
            if kind is FieldKind.DATE_OF_BIRTH:
                dob_field = fld
        elif kind is FieldKind.TIME:
            parsed_t, bad = normalise.parse_times(text)
            issues.add(rows, ids, bad, "time.unparseable", col, text, "a 24-hour time as HH:MM or HHMM")
            values[fld] = parsed_t
        elif kind is FieldKind.BOOL:
            parsed_b, bad = normalise.parse_bools(text, profile.true_values, profile.false_values)
            issues.add(rows, ids, bad, "bool.unparseable", col, text, "yes or no")
            values[fld] = parsed_b
            sources[fld] = text
        elif kind is FieldKind.NHS_NUMBER:
            values[fld] = _pseudonymise_column(text, rows, ids, col, ctx, issues)

    if dob_field is not None:
        values.update(_ages(values.pop(dob_field), occurred, rows, ids, columns[dob_field], issues))

    rejected = mapping.rejected_when
    if rejected is not None and rejected.field in values:
        flagged = values[rejected.field].isin(rejected.values).fillna(False).astype(bool)
        issues.add(rows, ids, flagged, "record.rejected_in_source", columns[rejected.field], values[rejected.field],
                   "an approved record")

    fields = pd.DataFrame(values, index=frame.index)
    fields["_row"] = rows
    builder = _INCIDENT_TABLES if entity == "incidents" else _ACTION_TABLES
    tables = builder(fields, sources, profile, ctx)
    return CanonicalBatch(entity=entity, rows_in=rows_in, duplicates=duplicates, tables=tables,
                          issues=issues.frame(), source_columns=dict(columns))


def _pseudonymise_column(text: pd.Series, rows: pd.Series, ids: pd.Series, col: str, ctx: BatchContext,
                         issues: _Issues) -> pd.Series:
    out = pd.Series(pd.NA, index=text.index, dtype="string")
    problems: dict[str, list] = {}
    for idx, value in text.dropna().items():
        digits, rule_id = classify(str(value))
        if digits is not None:
            out[idx] = pseudonymise(digits, ctx.pseudonym_key)
        else:
            assert rule_id is not None
            problems.setdefault(rule_id, []).append((idx, describe(str(value), rule_id)))
    for rule_id, found in problems.items():
        mask = pd.Series(False, index=text.index)
        described = pd.Series(pd.NA, index=text.index, dtype="string")
        for idx, what in found:
            mask[idx] = True
            described[idx] = what
        issues.add(rows, ids, mask, rule_id, col, described, "a 10-digit NHS number with a valid check digit")
    return out


def _ages(dob: pd.Series, occurred: pd.Series | None, rows: pd.Series, ids: pd.Series, col: str,
          issues: _Issues) -> dict[str, pd.Series]:
    """Age at incident (years) and LFPSE age bracket from the date of birth, which is then dropped."""
    if occurred is None:
        empty = pd.Series(pd.NA, index=dob.index)
        return {"age_at_incident_years": empty.astype("Int64"), "age_bracket_code": empty.astype("string")}
    # An occurred date that is itself a placeholder says nothing about the date of birth: no age, no DOB rule.
    occurred = occurred.where(occurred >= pd.Timestamp(1990, 1, 1))
    days = (occurred - dob).dt.days
    issues.add(rows, ids, days < 0, "dob.after_incident", col, "a date of birth after the incident date",
               "a date of birth on or before the incident date")
    years = (occurred.dt.year - dob.dt.year - (
        (occurred.dt.month * 100 + occurred.dt.day) < (dob.dt.month * 100 + dob.dt.day)).astype("Int64"))
    years = years.where(days >= 0).astype("Int64")
    bracket = pd.Series(pd.NA, index=dob.index, dtype="string")
    bracket = bracket.mask(days.between(0, 14), "1").mask(days.between(15, 28), "2")
    bracket = bracket.mask((days > 28) & (years < 1), "3")
    for lower, code in _AGE_BRACKET_EDGES_YEARS:
        bracket = bracket.mask(years >= lower, code)
    return {"age_at_incident_years": years, "age_bracket_code": bracket.where(days >= 0)}


def _provenance(fields: pd.DataFrame, source_id: pd.Series, profile: MappingProfile,
                ctx: BatchContext) -> dict[str, object]:
    return {
        "provider_ods": ctx.provider_ods,
        "source_system": profile.source_system,
        "source_record_id": source_id,
        "batch_id": ctx.batch_id,
        "extracted_at": pd.Timestamp(ctx.extracted_at),
    }


def _finish(table: str, data: dict[str, object], index: pd.Index, rows: pd.Series) -> pd.DataFrame:
    """Order columns as the warehouse table does, compute the row hash, keep ``_row`` for quarantine joins."""
    target = [c.name for c in CANONICAL_TABLES[table].columns if c.name not in ("loaded_at", "updated_at")]
    frame = pd.DataFrame(index=index)
    for name in target:
        frame[name] = data.get(name, pd.NA)
    content = [c for c in target if c not in NON_CONTENT]
    frame["row_hash"] = row_hashes(frame, content)
    frame["_row"] = rows
    return frame


def _col(fields: pd.DataFrame, name: str, dtype: str = "string") -> pd.Series:
    if name in fields:
        return fields[name]
    return pd.Series(pd.NA, index=fields.index, dtype=dtype)


def _dates(fields: pd.DataFrame, name: str) -> pd.Series:
    """Dates stay datetime64 (midnight) through validation; the loader stores them as DATE."""
    return _col(fields, name, "datetime64[ns]").dt.normalize()


def _INCIDENT_TABLES(fields: pd.DataFrame, sources: dict[str, pd.Series], profile: MappingProfile,
                     ctx: BatchContext) -> dict[str, pd.DataFrame]:
    ods = pd.Series(ctx.provider_ods, index=fields.index, dtype="string")
    ids = fields["source_record_id"]
    incident_key = natural_keys(ods, ids)
    empty = pd.Series(pd.NA, index=fields.index, dtype="string")
    event_type = _col(fields, "event_type").fillna("incident")
    incident = {
        **_provenance(fields, ids, profile, ctx),
        "incident_key": incident_key,
        "local_reference": _col(fields, "local_reference"),
        "event_type_code": event_type,
        "occurred_date": _dates(fields, "occurred_date"),
        "occurred_time": _col(fields, "occurred_time"),
        "reported_date": _dates(fields, "reported_date"),
        "category_code": _col(fields, "category"),
        "category_source": sources.get("category", empty),
        "subcategory_source": _col(fields, "subcategory"),
        "physical_harm_code": _col(fields, "physical_harm"),
        "physical_harm_source": sources.get("physical_harm", empty),
        "psychological_harm_code": _col(fields, "psychological_harm"),
        "psychological_harm_source": sources.get("psychological_harm", empty),
        "harm_mapping_basis": "provider_profile",
        "result_source": _col(fields, "result"),
        "division_source": _col(fields, "division"),
        "specialty_source": _col(fields, "specialty"),
        "location_type_source": _col(fields, "location_type"),
        "location_exact_source": _col(fields, "location_exact"),
        "description": _col(fields, "description"),
        "action_taken": _col(fields, "action_taken"),
        "lessons_learned": _col(fields, "lessons_learned"),
        "duty_of_candour": _col(fields, "duty_of_candour", "boolean"),
        "duty_of_candour_source": sources.get("duty_of_candour", empty),
        "never_event": _col(fields, "never_event", "boolean"),
        "approval_status_source": _col(fields, "approval_status"),
        "source_updated_at": _col(fields, "source_updated_at", "datetime64[ns]"),
        "is_deleted": False,
    }
    tables = {"incidents": _finish("incidents", incident, fields.index, fields["_row"])}

    present = [f for f in ("nhs_number", "age_at_incident_years", "gender", "ethnicity") if f in fields]
    if present:
        has_patient = fields[present].notna().any(axis=1)
        pf = fields[has_patient]
        p_ods, p_ids = ods[has_patient], ids[has_patient]
        patient = {
            **_provenance(pf, p_ids, profile, ctx),
            "incident_patient_key": natural_keys(p_ods, p_ids, pd.Series("1", index=pf.index)),
            "incident_key": incident_key[has_patient],
            "patient_sequence": 1,
            "patient_pseudo_id": _col(pf, "nhs_number"),
            "age_at_incident_years": _col(pf, "age_at_incident_years", "Int64"),
            "age_bracket_code": _col(pf, "age_bracket_code"),
            "gender_code": _col(pf, "gender"),
            "gender_source": sources.get("gender", empty)[has_patient],
            "ethnicity_code": _col(pf, "ethnicity"),
            "ethnicity_source": sources.get("ethnicity", empty)[has_patient],
            "physical_harm_code": _col(pf, "physical_harm"),
            "physical_harm_source": sources.get("physical_harm", empty)[has_patient],
            "psychological_harm_code": _col(pf, "psychological_harm"),
            "psychological_harm_source": sources.get("psychological_harm", empty)[has_patient],
        }
        tables["incident_patients"] = _finish("incident_patients", patient, pf.index, pf["_row"])
    return tables


def _ACTION_TABLES(fields: pd.DataFrame, sources: dict[str, pd.Series], profile: MappingProfile,
                   ctx: BatchContext) -> dict[str, pd.DataFrame]:
    ods = pd.Series(ctx.provider_ods, index=fields.index, dtype="string")
    ids = fields["source_record_id"]
    incident_ids = _col(fields, "incident_source_record_id")
    response_ids = _col(fields, "learning_response_source_record_id")
    empty = pd.Series(pd.NA, index=fields.index, dtype="string")
    action = {
        **_provenance(fields, ids, profile, ctx),
        "safety_action_key": natural_keys(ods, ids),
        "incident_key": natural_keys(ods, incident_ids).where(incident_ids.notna()),
        "incident_source_record_id": incident_ids,
        "learning_response_key": natural_keys(ods, response_ids).where(response_ids.notna()),
        "description": _col(fields, "description"),
        "owner_role": _col(fields, "owner_role"),
        "owning_org_ods": _col(fields, "owning_org_ods").fillna(ctx.provider_ods),
        "agreed_date": _dates(fields, "agreed_date"),
        "due_date": _dates(fields, "due_date"),
        "revised_due_date": _dates(fields, "revised_due_date"),
        "completed_date": _dates(fields, "completed_date"),
        "status_code": _col(fields, "status"),
        "status_source": sources.get("status", empty),
        "effectiveness_measure": _col(fields, "effectiveness_measure"),
        "is_system_wide": _col(fields, "is_system_wide", "boolean"),
        "is_deleted": False,
    }
    return {"safety_actions": _finish("safety_actions", action, fields.index, fields["_row"])}
