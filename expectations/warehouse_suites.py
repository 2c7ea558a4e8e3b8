"""The warehouse layer: checks over everything held for a provider after its loads, as GX 1.x suites.

``warehouse.incident_patient`` and ``warehouse.safety_action``: references resolve (no patient without its incident,
no orphan safety action); ``warehouse.incident``: every Never Event has a learning response. Keys are not checked
here: primary keys and unique constraints already forbid duplicates, so such a check could never fail (the dbt
tests check the marts' keys). The Never Event check reads the marts' one definition of learning-response coverage
(``oversight.oversight_never_events``), so a provider that sends no learning responses is not flagged ("not
supplied" is not "none"). The frames are queried with portable SQL, so the same checks run on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from expectations.gx_runner import RESULT_COLUMNS, meta, rule_results, validate
from expectations.rules import R

QUERIES: dict[str, str] = {
    "incident": """
        SELECT incident_key,
               CASE learning_response_coverage WHEN 'supplied' THEN true WHEN 'none' THEN false END
                   AS never_event_has_response
        FROM oversight.oversight_never_events WHERE provider_ods = :provider""",
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
    checks: list[Any] = []
    if table == "incident":
        checks.append(_is_true("never_event_has_response", R.NEVER_EVENT__NO_RESPONSE, "never_event"))
    elif table == "incident_patient":
        checks.append(_is_true("incident_found", R.WAREHOUSE__REFERENCE_UNRESOLVED, "incident_key"))
    else:
        checks += [_is_true("incident_found", R.WAREHOUSE__ORPHAN_ACTION, "incident_key"),
                   _is_true("response_found", R.WAREHOUSE__ORPHAN_ACTION, "learning_response_key")]
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
        try:
            frame = frame_for(engine, table, provider_ods)
        except sa.exc.DBAPIError as exc:  # the marts are not built yet: that check waits for them
            logging.getLogger(__name__).warning("warehouse.%s not checked for %s: %s", table, provider_ods,
                                                str(exc.orig).strip().splitlines()[0] if exc.orig else exc)
            continue
        name = f"warehouse.{table}"
        parts.append(rule_results("warehouse", name, validate(name, expectations(table), frame, keep=keep),
                                  len(frame)))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=RESULT_COLUMNS)
