"""The warehouse layer: checks over everything held for a provider after its loads, as GX 1.x suites.

``warehouse.incident``, ``warehouse.incident_patient`` and ``warehouse.safety_action``: keys unique, references
resolve (no orphan safety actions, no patient without its incident) and every Never Event has a learning response.
The frames are queried with portable SQL, so the same checks run on DuckDB and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from expectations.gx_runner import RESULT_COLUMNS, meta, rule_results, validate

QUERIES: dict[str, str] = {
    "incident": """
        SELECT i.incident_key, i.provider_ods, i.source_record_id,
               CASE WHEN i.never_event THEN EXISTS (
                   SELECT 1 FROM learning_response_incident l
                   JOIN learning_response r ON r.learning_response_key = l.learning_response_key
                   WHERE l.incident_key = i.incident_key AND r.response_type_code <> 'none' AND NOT r.is_deleted)
               END AS never_event_has_response
        FROM incident i WHERE i.provider_ods = :provider AND NOT i.is_deleted""",
    "incident_patient": """
        SELECT p.incident_patient_key, i.incident_key IS NOT NULL AS incident_found
        FROM incident_patient p LEFT JOIN incident i ON i.incident_key = p.incident_key
        WHERE p.provider_ods = :provider""",
    "safety_action": """
        SELECT a.safety_action_key,
               CASE WHEN a.incident_key IS NOT NULL THEN i.incident_key IS NOT NULL END AS incident_found,
               CASE WHEN a.learning_response_key IS NOT NULL THEN r.learning_response_key IS NOT NULL END
                   AS response_found
        FROM safety_action a
        LEFT JOIN incident i ON i.incident_key = a.incident_key
        LEFT JOIN learning_response r ON r.learning_response_key = a.learning_response_key
        WHERE a.provider_ods = :provider AND NOT a.is_deleted""",
}


def _is_true(column: str, rule_id: str, field: str) -> Any:
    """Rows where ``column`` is NULL are not evaluated (GX leaves missing values out of a value-set check)."""
    import great_expectations as gx

    return gx.expectations.ExpectColumnValuesToBeInSet(column=column, value_set=[True], meta=meta(rule_id, field))


def expectations(table: str) -> list[Any]:
    import great_expectations as gx

    ex = gx.expectations
    key = {"incident": "incident_key", "incident_patient": "incident_patient_key",
           "safety_action": "safety_action_key"}[table]
    checks: list[Any] = [ex.ExpectColumnValuesToBeUnique(column=key, meta=meta("warehouse.key_duplicate", key))]
    if table == "incident":
        checks += [ex.ExpectCompoundColumnsToBeUnique(column_list=["provider_ods", "source_record_id"],
                                                      meta=meta("warehouse.key_duplicate", "source_record_id")),
                   _is_true("never_event_has_response", "never_event.no_response", "never_event")]
    elif table == "incident_patient":
        checks.append(_is_true("incident_found", "warehouse.reference_unresolved", "incident_key"))
    else:
        checks += [_is_true("incident_found", "warehouse.orphan_action", "incident_key"),
                   _is_true("response_found", "warehouse.orphan_action", "learning_response_key")]
    return checks


def frame_for(engine: Engine, table: str, provider_ods: str) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(sa.text(QUERIES[table]), {"provider": provider_ods})
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for column in ("never_event_has_response", "incident_found", "response_found"):
        if column in frame:  # True/False/None as objects, so a NULL stays "not evaluated"
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def check_provider(engine: Engine, provider_ods: str, *, keep: bool = True) -> pd.DataFrame:
    """Rule results of every warehouse suite over one provider's rows (RESULT_COLUMNS)."""
    parts = []
    for table in QUERIES:
        frame = frame_for(engine, table, provider_ods)
        name = f"warehouse.{table}"
        parts.append(rule_results("warehouse", name, validate(name, expectations(table), frame, keep=keep),
                                  len(frame)))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=RESULT_COLUMNS)
