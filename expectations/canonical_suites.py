"""Great Expectations 1.x suites over canonical batches, built in code by small factories.

Each expectation carries ``meta = {"rule_id": ..., "field": ...}`` so a failure maps straight to a rule in
:mod:`expectations.rules` and to the field as the provider knows it. Suites are named ``<layer>.<entity>``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
from functools import cache
from typing import Any

from psirf.settings import REFERENCE_DIR

PLACEHOLDER_BEFORE = dt.datetime(1990, 1, 1)


@cache
def _gx() -> Any:
    """Import GX lazily: it is slow to import and must never load at DAG parse time."""
    import great_expectations as gx

    return gx


@cache
def context() -> Any:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = _gx().get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in task logs
    return ctx


@cache
def _reference_codes(filename: str, column: str, where: tuple[str, str] | None = None) -> tuple[str, ...]:
    with (REFERENCE_DIR / filename).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(r[column] for r in rows if where is None or r[where[0]] == where[1])


def lfpse_codes(code_system_id: str) -> list[str]:
    return list(_reference_codes("lfpse_v5_code_systems.csv", "code", ("code_system_id", code_system_id)))


def _meta(rule_id: str, field: str) -> dict[str, str]:
    return {"rule_id": rule_id, "field": field}


def _not_null(column: str, field: str) -> Any:
    return _gx().expectations.ExpectColumnValuesToNotBeNull(column=column, meta=_meta("required.missing", field))


def _date_window(column: str, field: str, extracted_at: dt.datetime, *, future_allowed: bool = False) -> list[Any]:
    ex = _gx().expectations
    checks = [ex.ExpectColumnValuesToBeBetween(column=column, min_value=PLACEHOLDER_BEFORE,
                                                meta=_meta("date.placeholder", field))]
    if not future_allowed:
        checks.append(ex.ExpectColumnValuesToBeBetween(column=column, max_value=extracted_at,
                                                       meta=_meta("date.in_future", field)))
    return checks


def _order(later: str, earlier: str, field: str) -> Any:
    return _gx().expectations.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=later, column_B=earlier, or_equal=True, ignore_row_if="either_value_is_missing",
        meta=_meta("date.order", field))


def _in_set(column: str, values: list[str], field: str) -> Any:
    return _gx().expectations.ExpectColumnValuesToBeInSet(column=column, value_set=values,
                                                          meta=_meta("code.unknown", field))


def _unique_ids() -> Any:
    return _gx().expectations.ExpectColumnValuesToBeUnique(
        column="source_record_id", meta=_meta("record.conflicting_duplicate", "source_record_id"))


def _has_rows() -> Any:
    return _gx().expectations.ExpectTableRowCountToBeBetween(min_value=1, meta=_meta("batch.empty", ""))


def incident_expectations(extracted_at: dt.datetime, patient_level: bool = False) -> list[Any]:
    """With one row per patient (LFPSE), harm is required per patient, not per incident (an event may have none)."""
    nrls = list(_reference_codes("nrls_incident_categories.csv", "key"))
    return [
        _has_rows(),
        _not_null("source_record_id", "source_record_id"),
        _not_null("occurred_date", "occurred_date"),
        *([] if patient_level else [_not_null("physical_harm_code", "physical_harm")]),
        *_date_window("occurred_date", "occurred_date", extracted_at),
        *_date_window("reported_date", "reported_date", extracted_at),
        _order("reported_date", "occurred_date", "reported_date"),
        *_date_window("duty_of_candour_notified_date", "duty_of_candour_notified_date", extracted_at),
        _order("duty_of_candour_notified_date", "occurred_date", "duty_of_candour_notified_date"),
        _unique_ids(),
        _in_set("physical_harm_code", lfpse_codes("level-of-physical-harm-5"), "physical_harm"),
        _in_set("psychological_harm_code", lfpse_codes("level-of-psychological-harm-5"), "psychological_harm"),
        _in_set("category_code", nrls, "category"),
        _in_set("event_type_code", ["incident", "outcome", "risk", "good_care"], "event_type"),
    ]


def incident_patient_expectations(extracted_at: dt.datetime, patient_level: bool = False) -> list[Any]:
    ex = _gx().expectations
    return [
        # One row per patient (LFPSE): each patient of an incident must have a harm level (good care has none).
        *([ex.ExpectColumnValuesToNotBeNull(column="physical_harm_code", row_condition='_event_type=="incident"',
                                            condition_parser="pandas", meta=_meta("required.missing", "physical_harm"))]
          if patient_level else []),
        _in_set("physical_harm_code", lfpse_codes("level-of-physical-harm-5"), "physical_harm"),
        _in_set("gender_code", list(_reference_codes("nhs_dd_person_stated_gender.csv", "code")), "gender"),
        _in_set("ethnicity_code", list(_reference_codes("nhs_dd_ethnic_category.csv", "code")), "ethnicity"),
        _in_set("age_bracket_code", lfpse_codes("age-brackets-5"), "date_of_birth"),
        ex.ExpectColumnValuesToBeBetween(column="age_at_incident_years", min_value=0, max_value=125,
                                         meta=_meta("dob.implausible", "date_of_birth")),
        ex.ExpectColumnValuesToMatchRegex(column="patient_pseudo_id", regex=r"^[0-9a-f]{64}$",
                                          meta=_meta("nhs_number.bad_format", "nhs_number")),
    ]


def safety_action_expectations(extracted_at: dt.datetime, patient_level: bool = False) -> list[Any]:
    return [
        _has_rows(),
        _not_null("source_record_id", "source_record_id"),
        _not_null("description", "description"),
        _not_null("status_code", "status"),
        _in_set("status_code", ["open", "completed", "cancelled"], "status"),
        _unique_ids(),
        *_date_window("agreed_date", "agreed_date", extracted_at),
        *_date_window("due_date", "due_date", extracted_at, future_allowed=True),
        *_date_window("revised_due_date", "revised_due_date", extracted_at, future_allowed=True),
        *_date_window("completed_date", "completed_date", extracted_at),
        _order("due_date", "agreed_date", "due_date"),
        _order("completed_date", "agreed_date", "completed_date"),
    ]


def learning_response_expectations(extracted_at: dt.datetime, patient_level: bool = False) -> list[Any]:
    return [
        _has_rows(),
        _not_null("source_record_id", "source_record_id"),
        _not_null("response_type_code", "response_type"),
        _not_null("status_code", "status"),
        _in_set("response_type_code", ["psii", "aar", "swarm", "mdt", "thematic", "local", "none"], "response_type"),
        _in_set("status_code", ["open", "completed", "cancelled"], "status"),
        _unique_ids(),
        *_date_window("commissioned_date", "commissioned_date", extracted_at),
        *_date_window("due_date", "due_date", extracted_at, future_allowed=True),
        *_date_window("completed_date", "completed_date", extracted_at),
        _order("completed_date", "commissioned_date", "completed_date"),
    ]


SUITES = {
    "incidents": incident_expectations,
    "incident_patients": incident_patient_expectations,
    "safety_actions": safety_action_expectations,
    "learning_responses": learning_response_expectations,
}


_BUILT: dict[str, tuple[tuple[dt.datetime, bool], Any]] = {}


def build_suite(table: str, extracted_at: dt.datetime, patient_level: bool = False) -> Any:
    """The suite ``canonical.<table>`` for a batch extracted at ``extracted_at`` (future = after that).

    Building a suite costs GX a few hundred milliseconds; a file read in chunks validates every chunk against the
    same suite, so the last one built per table is reused while its inputs are the same."""
    built = _BUILT.get(table)
    if built is not None and built[0] == (extracted_at, patient_level):
        return built[1]
    suite = _build_suite(table, extracted_at, patient_level)
    _BUILT[table] = ((extracted_at, patient_level), suite)
    return suite


def _build_suite(table: str, extracted_at: dt.datetime, patient_level: bool) -> Any:
    gx = _gx()
    name = f"canonical.{table}"
    suites = context().suites
    with contextlib.suppress(Exception):  # not there yet
        suites.delete(name)
    suite = suites.add(gx.ExpectationSuite(name=name))
    for expectation in SUITES[table](extracted_at, patient_level):
        suite.add_expectation(expectation)
    return suite


def validate_frame(table: str, frame: Any, extracted_at: dt.datetime, patient_level: bool = False) -> Any:
    """Run the table's suite over the whole frame at once (vectorised), returning GX's validation result."""
    ctx = context()
    name = f"canonical.{table}"
    try:
        asset = ctx.data_sources.get("canonical").get_asset(name)
    except (KeyError, LookupError, ValueError):
        source = ctx.data_sources.add_or_update_pandas("canonical")
        asset = source.add_dataframe_asset(name)
    try:
        batch_definition = asset.get_batch_definition("whole")
    except (KeyError, LookupError, ValueError):
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(build_suite(table, extracted_at, patient_level),
                            result_format={"result_format": "COMPLETE"})
    from expectations.run_results import record

    record(name, result, frame)  # kept for the run's Data Docs (inside a run only)
    return result
