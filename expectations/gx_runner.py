"""Run a code-defined GX 1.x suite over a pandas frame and turn its results into rule results.

Shared by the raw and warehouse suites (the canonical suites keep their own runner in ``canonical_suites``). Every
expectation carries ``meta = {"rule_id", "field", "scope"}``; the rule's dimension and severity come from the
catalogue, so a suite cannot disagree with what providers are told.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from expectations.canonical_suites import context, failed_to_run
from expectations.rules import describe

RESULT_COLUMNS = ["layer", "suite", "rule_id", "field", "dimension", "severity", "scope", "rows_evaluated",
                  "rows_failed"]


def meta(rule_id: str, field: str | None, scope: str = "row") -> dict[str, Any]:
    return {"rule_id": rule_id, "field": field, "scope": scope}


_BUILT: dict[str, tuple[str, Any]] = {}


def suite_for(name: str, expectations: Sequence[Any]) -> Any:
    """(Re)build the suite ``name`` in the shared ephemeral context from ``expectations``.

    Rebuilding a suite costs GX a few hundred milliseconds, so an identical suite built earlier is reused.
    """
    import great_expectations as gx

    signature = json.dumps([e.configuration.to_json_dict() for e in expectations], sort_keys=True, default=str)
    built = _BUILT.get(name)
    if built is not None and built[0] == signature:
        return built[1]
    suites = context().suites
    with contextlib.suppress(Exception):  # not there yet
        suites.delete(name)
    suite = suites.add(gx.ExpectationSuite(name=name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    _BUILT[name] = (signature, suite)
    return suite


def validate(name: str, expectations: Sequence[Any], frame: pd.DataFrame, *, keep: bool = False) -> Any:
    """Validate ``frame`` against the suite ``name`` (one dataframe asset per suite in the data source "psirf").

    ``keep`` runs it through a GX checkpoint so the result is kept in the context's validation store and appears
    in the Data Docs (:mod:`expectations.data_docs`); otherwise the batch is validated directly (faster).
    """
    import great_expectations as gx

    ctx = context()
    source = _source(ctx)
    try:
        asset = source.get_asset(name)
    except (KeyError, LookupError, ValueError):
        asset = source.add_dataframe_asset(name)
    try:
        batch_definition = asset.get_batch_definition("whole")
    except (KeyError, LookupError, ValueError):
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    suite = suite_for(name, expectations)
    result_format = {"result_format": "COMPLETE"}
    from expectations.run_results import record

    if not keep:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format=result_format)
        record(name, result, frame)  # kept for the run's Data Docs (inside a run only)
        return result
    definition = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite))
    checkpoint = ctx.checkpoints.add_or_update(
        gx.Checkpoint(name=name, validation_definitions=[definition], result_format=result_format))
    run = checkpoint.run(batch_parameters={"dataframe": frame})
    result = next(iter(run.run_results.values()))
    record(name, result, frame)
    return result


def _source(ctx: Any) -> Any:
    try:
        return ctx.data_sources.get("psirf")
    except (KeyError, LookupError, ValueError):
        return ctx.data_sources.add_or_update_pandas("psirf")


def rule_results(layer: str, suite: str, result: Any, rows: int) -> pd.DataFrame:
    """One row per expectation: rows evaluated and failed (``rows`` for row checks; 1 for whole-batch checks)."""
    records = []
    for outcome in result.results:
        config = outcome.expectation_config
        info = config.meta or {}
        problem = failed_to_run(outcome)
        if problem is not None:
            raise RuntimeError(f"{suite}: rule {info.get('rule_id')} failed to run: {problem}")
        rule = describe(str(info["rule_id"]))
        scope = info.get("scope", "row")
        if scope == "batch":
            evaluated, failed = 1, 0 if outcome.success else 1
        else:
            res = outcome.result or {}
            evaluated = int(res.get("element_count", rows)) - int(res.get("missing_count") or 0)
            failed = int(res.get("unexpected_count") or 0)
        records.append({"layer": layer, "suite": suite, "rule_id": rule.rule_id, "field": info.get("field"),
                        "dimension": rule.dimension, "severity": rule.severity, "scope": scope,
                        "rows_evaluated": evaluated, "rows_failed": min(failed, evaluated)})
    return pd.DataFrame.from_records(records, columns=RESULT_COLUMNS)
