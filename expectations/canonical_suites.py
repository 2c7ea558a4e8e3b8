"""Great Expectations 1.x suites over canonical batches, built in code by small factories.

Each expectation carries ``meta = {"rule_id": ..., "field": ...}`` so a failure maps straight to a rule in
:mod:`expectations.rules` and to the field as the provider knows it. Suites are named ``<layer>.<entity>``.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import datetime as dt
import itertools
import os
import shutil
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from expectations.rules import R
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
    return _gx().expectations.ExpectColumnValuesToNotBeNull(column=column, meta=_meta(R.REQUIRED__MISSING, field))


def _date_window(column: str, field: str, extracted_at: dt.datetime, *, future_allowed: bool = False) -> list[Any]:
    """Not a placeholder (before 1990) and, unless the date may lie ahead, not after the batch's extraction time.

    The extraction time is compared as the rows' own ``extracted_at`` column, not as a constant, so one suite
    serves every batch (GX builds a suite slowly; batches are extracted at different times)."""
    ex = _gx().expectations
    checks = [ex.ExpectColumnValuesToBeBetween(column=column, min_value=PLACEHOLDER_BEFORE,
                                                meta=_meta(R.DATE__PLACEHOLDER, field))]
    if not future_allowed:
        checks.append(ex.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="extracted_at", column_B=column, or_equal=True, ignore_row_if="either_value_is_missing",
            meta={**_meta(R.DATE__IN_FUTURE, field), "found_column": column}))
    return checks


def _order(later: str, earlier: str, field: str) -> Any:
    return _gx().expectations.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=later, column_B=earlier, or_equal=True, ignore_row_if="either_value_is_missing",
        meta=_meta(R.DATE__ORDER, field))


def _in_set(column: str, values: list[str], field: str) -> Any:
    return _gx().expectations.ExpectColumnValuesToBeInSet(column=column, value_set=values,
                                                          meta=_meta(R.CODE__UNKNOWN, field))


def _unique_ids() -> Any:
    return _gx().expectations.ExpectColumnValuesToBeUnique(
        column="source_record_id", meta=_meta(R.RECORD__CONFLICTING_DUPLICATE, "source_record_id"))


def _has_rows() -> Any:
    return _gx().expectations.ExpectTableRowCountToBeBetween(min_value=1, meta=_meta(R.BATCH__EMPTY, ""))


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
        *([ex.ExpectColumnValuesToNotBeNull(column="physical_harm_code", row_condition='col("_event_type")=="incident"',
                                            condition_parser="great_expectations",
                                            meta=_meta(R.REQUIRED__MISSING, "physical_harm"))]
          if patient_level else []),
        _in_set("physical_harm_code", lfpse_codes("level-of-physical-harm-5"), "physical_harm"),
        _in_set("gender_code", list(_reference_codes("nhs_dd_person_stated_gender.csv", "code")), "gender"),
        _in_set("ethnicity_code", list(_reference_codes("nhs_dd_ethnic_category.csv", "code")), "ethnicity"),
        _in_set("age_bracket_code", lfpse_codes("age-brackets-5"), "date_of_birth"),
        ex.ExpectColumnValuesToBeBetween(column="age_at_incident_years", min_value=0, max_value=125,
                                         meta=_meta(R.DOB__IMPLAUSIBLE, "date_of_birth")),
        # A keyed HMAC-SHA-256 in hex (GX has no regular expressions on DuckDB, where the suites run: the length)
        ex.ExpectColumnValueLengthsToEqual(column="patient_pseudo_id", value=64,
                                           meta=_meta(R.NHS_NUMBER__BAD_FORMAT, "nhs_number")),
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


_BUILT: dict[str, tuple[bool, Any]] = {}


def build_suite(table: str, patient_level: bool = False) -> Any:
    """The suite ``canonical.<table>``; one per process (building a suite costs GX noticeable time), rebuilt only
    when a batch with a row per patient follows one without (or the reverse)."""
    built = _BUILT.get(table)
    if built is not None and built[0] == patient_level:
        return built[1]
    gx = _gx()
    name = f"canonical.{table}"
    suites = context().suites
    with contextlib.suppress(Exception):  # not there yet
        suites.delete(name)
    suite = suites.add(gx.ExpectationSuite(name=name, expectations=SUITES[table](PLACEHOLDER_BEFORE, patient_level)))
    _BUILT[table] = (patient_level, suite)
    return suite


def failed_to_run(outcome: Any) -> str | None:
    """Why an expectation could not be evaluated, or None. GX 1.x reports it at the top of ``exception_info`` or,
    when a metric failed, under that metric's id: a check that silently failed to run would pass every row."""
    info = outcome.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "an exception")
    for value in info.values():
        if isinstance(value, dict) and (value.get("raised_exception") or value.get("exception_traceback")):
            return str(value.get("exception_message") or "an exception")
    return None


class _DuckDBDialect(str):
    """GX's name for a dialect whose connection it must keep open (as it does for SQLite's)."""

    value = "duckdb"


@cache
def _sql_source() -> Any:
    """The SQL data source the canonical suites run on: DuckDB, reading a batch's staged parquet parts in place
    (``read_parquet`` in the asset's query; nothing is copied), through a scratch database file of this process.

    GX's SQL engine returns a query's rows after giving its connection back; DuckDB's driver fetches lazily, so
    the rows would be gone. GX keeps one open connection for the dialects in ``_PERSISTED_CONNECTION_DIALECTS``
    (SQLite, SQL Server …); DuckDB is added to them (GX is pinned; tests/test_staged_validation.py fails if a
    release changes this)."""
    from great_expectations.execution_engine import sqlalchemy_execution_engine as sql_engine

    if "duckdb" not in sql_engine._PERSISTED_CONNECTION_DIALECTS:
        sql_engine._PERSISTED_CONNECTION_DIALECTS = (  # type: ignore[assignment]
            *sql_engine._PERSISTED_CONNECTION_DIALECTS, _DuckDBDialect("duckdb"))
    folder = Path(tempfile.mkdtemp(prefix="psirf-gx-"))
    atexit.register(shutil.rmtree, folder, True)
    return context().data_sources.add_sql(
        "canonical_staged", connection_string=f"duckdb:///{folder / 'views.duckdb'}",
        kwargs={"connect_args": {"config": _validation_duckdb_config()}})


def _validation_duckdb_config() -> dict[str, object]:
    """One thread and a small buffer pool (``PSIRF_VALIDATION_MEMORY_LIMIT``, default 256MB): a worker process per
    core already runs the transforms in parallel, and the suites' queries scan a batch's parquet parts (nothing to
    cache), so DuckDB's defaults (every core, 80% of RAM) would only oversubscribe the cores and let each worker's
    cache grow with the batch."""
    return {"threads": 1, "memory_limit": os.environ.get("PSIRF_VALIDATION_MEMORY_LIMIT", "256MB")}


_VALIDATIONS = itertools.count()


def _rows(parts: Sequence[Path]) -> int:
    import pyarrow.parquet as pq

    return max(1, sum(pq.ParquetFile(p).metadata.num_rows for p in parts))


def validate_parts(table: str, parts: Sequence[Path], patient_level: bool = False, batch: str = "batch") -> Any:
    """Run the table's suite once over a whole batch: its staged parquet parts, read in place by DuckDB through GX's
    SQL engine. Returns GX's validation result; each failed expectation lists the failing rows by ``_row`` (their
    source row numbers) in ``unexpected_index_list``."""

    source = _sql_source()
    asset_name = f"canonical.{table}.{next(_VALIDATIONS)}"
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in parts)
    try:
        asset = source.add_query_asset(asset_name, query=f"SELECT * FROM read_parquet([{files}], union_by_name = true)")
        batch_definition = asset.add_batch_definition_whole_table("whole")
        result = batch_definition.get_batch().validate(
            build_suite(table, patient_level),
            # every failing row (GX's SQL engine otherwise stops at 20), by its row number only (no values)
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["_row"],
                           "partial_unexpected_count": _rows(parts), "exclude_unexpected_values": True})
    finally:
        with contextlib.suppress(Exception):
            source.delete_asset(asset_name)
    from expectations.run_results import record

    record(f"canonical.{table}", result, batch=batch)  # kept for the run's Data Docs (inside a run only)
    return result
