"""Refresh the analysts' star schema (:mod:`warehouse.mart_models`) from the canonical tables, incrementally.

What a refresh does, in one transaction (so analysts never see half a refresh):

1. upserts the fixed code-list dimensions (harm, event type, category, status, ethnicity …) from
   ``config/reference`` and the lists below, each with its *unknown* member;
2. versions ``dim_organisation`` (SCD type 2): an organisation whose name, type, ICB or region changed gets a new
   version valid from ``as_of``, and facts of that organisation are re-pointed to the version valid on their date;
3. reads only the canonical rows changed since the last refresh: ``updated_at`` greater than the watermark kept
   per source table in ``mart_refresh_state``. The watermark is the greatest ``updated_at`` seen. On PostgreSQL
   the refresh first takes the warehouse's load lock exclusively (:func:`warehouse.locks.exclusive_load_lock`;
   every load holds it shared), so no load is half-committed while it reads: a refresh costs time in proportion
   to what changed, not to the warehouse. A short look-back (``PSIRF_MARTS_LOOKBACK_SECONDS``, default 120 s)
   still re-reads the most recent rows, as a margin for clocks that differ between Airflow workers (``updated_at``
   is the loading worker's clock); re-reading is harmless: every write is an upsert. Those rows become set-based
   ``INSERT … ON CONFLICT DO UPDATE`` statements into the facts, with label dimensions (service area, location
   type) extended from the same rows first;
4. removes what left the canonical tables: rows flagged ``is_deleted`` upstream leave the facts (with their
   patients and bridge rows), patients pruned from an updated incident and bridge pairs no longer in
   ``learning_response_incident`` are removed by anti-joins (those two tables have no deletion flag);
5. extends ``dim_date`` to cover every date the facts use.

Dimension keys for labels found in the data are computed in SQL with the same SHA-256 as
:func:`transforms.keys.natural_key`, so both engines, and Python, agree on them. ``refresh(full=True)``
re-reads everything (e.g. after a change to the mart logic); the result is the same as an incremental refresh.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine

from psirf import settings
from warehouse.db import is_duckdb, make_engine
from warehouse.locks import exclusive_load_lock
from warehouse.models import Base

__all__ = ["DEFAULT_LOOKBACK", "UNKNOWN_KEY", "code_lists", "key_sql", "natural_key", "refresh"]

def default_lookback() -> dt.timedelta:
    """``PSIRF_MARTS_LOOKBACK_SECONDS`` (default 120): rows written this recently are read again next time."""
    return dt.timedelta(seconds=float(os.environ.get("PSIRF_MARTS_LOOKBACK_SECONDS", "120")))


DEFAULT_LOOKBACK = dt.timedelta(seconds=120)

FIRST_VALID_FROM = dt.date(1900, 1, 1)
"""``valid_from`` of an organisation's first version: it applies to all history before the first change."""

_SEP = "\x1f"


def natural_key(*parts: object) -> str:
    """Same as :func:`transforms.keys.natural_key` (not imported: that module pulls in pandas)."""
    text = _SEP.join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


UNKNOWN = "unknown"
UNKNOWN_KEY = natural_key(UNKNOWN)
"""Key of the unknown member of every dimension (``dim_date`` uses 0)."""

SOURCE_TABLES = ("incident", "incident_patient", "safety_action", "learning_response")


# --- code lists --------------------------------------------------------------------------------------------

_REFERENCE = settings.REFERENCE_DIR
_ETHNIC_GROUPS = {"A": "White", "B": "White", "C": "White", "D": "Mixed", "E": "Mixed", "F": "Mixed", "G": "Mixed",
                  "H": "Asian", "J": "Asian", "K": "Asian", "L": "Asian", "M": "Black", "N": "Black", "P": "Black",
                  "R": "Other", "S": "Other", "Z": "Not stated", "99": "Not known"}
_AGE_BANDS = {"1": "0-17", "2": "0-17", "3": "0-17", "4": "0-17", "5": "0-17", "6": "0-17", "7": "0-17",
              "8": "18-25", "9": "26-45", "10": "46-65", "11": "66-85", "12": "85+"}


def _csv(name: str) -> list[dict[str, str]]:
    with (_REFERENCE / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _lfpse(code_system_id: str) -> list[tuple[str, str]]:
    rows = _csv("lfpse_v5_code_systems.csv")
    return [(r["code"], r["display"]) for r in rows if r["code_system_id"] == code_system_id]


def code_lists() -> dict[str, list[dict[str, Any]]]:
    """Rows of every fixed dimension, unknown member included: ``{table: [row, …]}`` (also the dictionary's lists)."""
    unknown = {"code": UNKNOWN, "label": "Unknown / not recorded"}
    physical_rank = {"5": 0, "4": 1, "3": 2, "2": 3, "1": 4}
    psychological_rank = {"4": 0, "3": 1, "2": 2, "1": 3}
    lists: dict[str, list[dict[str, Any]]] = {
        "dim_physical_harm": [
            {"code": c, "label": label, "severity_rank": physical_rank[c],
             "is_moderate_or_worse": physical_rank[c] >= 2}
            for c, label in _lfpse("level-of-physical-harm-5")
        ] + [{**unknown, "severity_rank": None, "is_moderate_or_worse": False}],
        "dim_psychological_harm": [
            {"code": c, "label": label, "severity_rank": psychological_rank[c],
             "is_moderate_or_worse": psychological_rank[c] >= 2}
            for c, label in _lfpse("level-of-psychological-harm-5")
        ] + [{**unknown, "severity_rank": None, "is_moderate_or_worse": False}],
        "dim_event_type": [
            {"code": "incident", "label": "Incident"}, {"code": "outcome", "label": "Outcome"},
            {"code": "risk", "label": "Risk"}, {"code": "good_care", "label": "Good care"}, unknown,
        ],
        "dim_incident_category": [
            {"code": r["key"], "label": r["description"]} for r in _csv("nrls_incident_categories.csv")
        ] + [unknown],
        "dim_learning_response_type": [
            {"code": "psii", "label": "Patient Safety Incident Investigation (PSII)"},
            {"code": "aar", "label": "After Action Review (AAR)"},
            {"code": "swarm", "label": "SWARM huddle"},
            {"code": "mdt", "label": "Multidisciplinary team (MDT) review"},
            {"code": "thematic", "label": "Thematic review"},
            {"code": "local", "label": "Other local response"},
            {"code": "none", "label": "No further response"},
            unknown,
        ],
        "dim_status": [
            {"code": "open", "label": "Open"}, {"code": "completed", "label": "Completed"},
            {"code": "cancelled", "label": "Cancelled"}, unknown,
        ],
        "dim_ethnicity": [
            {"code": r["code"], "label": r["description"], "ethnic_group": _ETHNIC_GROUPS.get(r["code"], "Other")}
            for r in _csv("nhs_dd_ethnic_category.csv")
        ] + [{**unknown, "ethnic_group": "Unknown"}],
        "dim_gender": [{"code": r["code"], "label": r["description"]} for r in _csv("nhs_dd_person_stated_gender.csv")]
        + [unknown],
        "dim_age_bracket": [
            {"code": c, "label": label, "age_band": _AGE_BANDS[c], "sort_order": int(c)}
            for c, label in _lfpse("age-brackets-5")
        ] + [{**unknown, "age_band": "Unknown", "sort_order": 99}],
    }
    for table, rows in lists.items():
        key = _KEY_COLUMNS[table]
        prefix = table.removeprefix("dim_")
        for row in rows:
            row[key] = UNKNOWN_KEY if row["code"] == UNKNOWN else natural_key(prefix, row["code"])
    return lists


_KEY_COLUMNS = {
    "dim_physical_harm": "physical_harm_key",
    "dim_psychological_harm": "psychological_harm_key",
    "dim_event_type": "event_type_key",
    "dim_incident_category": "category_key",
    "dim_learning_response_type": "response_type_key",
    "dim_status": "status_key",
    "dim_ethnicity": "ethnicity_key",
    "dim_gender": "gender_key",
    "dim_age_bracket": "age_bracket_key",
}


# --- portable SQL fragments --------------------------------------------------------------------------------


def key_sql(conn: Connection, *exprs: str) -> str:
    """SQL computing :func:`natural_key` of the SQL expressions ``exprs`` (identical on DuckDB and PostgreSQL)."""
    joined = " || chr(31) || ".join(f"COALESCE(CAST({e} AS VARCHAR), '')" for e in exprs)
    if is_duckdb(conn):
        return f"substr(sha256({joined}), 1, 32)"
    return f"substr(encode(sha256(convert_to({joined}, 'UTF8')), 'hex'), 1, 32)"


def _label(expr: str) -> str:
    """A label trimmed, with runs of whitespace collapsed; NULL when blank."""
    return f"NULLIF(regexp_replace(trim({expr}), '\\s+', ' ', 'g'), '')"


def _date_key(expr: str) -> str:
    return (f"CASE WHEN {expr} IS NULL THEN 0 ELSE CAST(EXTRACT(YEAR FROM {expr}) AS INTEGER) * 10000 "
            f"+ CAST(EXTRACT(MONTH FROM {expr}) AS INTEGER) * 100 + CAST(EXTRACT(DAY FROM {expr}) AS INTEGER) END")


def _days(later: str, earlier: str) -> str:
    return f"CAST({later} - {earlier} AS INTEGER)"


def _org_join(alias: str, ods: str, on_date: str) -> str:
    """LEFT JOIN the organisation version of ``ods`` valid on ``on_date``."""
    return (f"LEFT JOIN dim_organisation {alias} ON {alias}.ods_code = {ods} AND {on_date} >= {alias}.valid_from "
            f"AND ({alias}.valid_to IS NULL OR {on_date} < {alias}.valid_to)")


def _dim_join(table: str, alias: str, code: str) -> str:
    return f"LEFT JOIN {table} {alias} ON {alias}.code = {code}"


def _upsert(conn: Connection, table: str, key: list[str], columns: list[str], select_sql: str,
            params: dict[str, Any]) -> int:
    """``INSERT INTO table (columns) select_sql ON CONFLICT (key) DO UPDATE`` every non-key column."""
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    result = conn.execute(sa.text(
        f"INSERT INTO {table} ({', '.join(columns)}) {select_sql} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    ), params)
    return max(result.rowcount or 0, 0)


# --- steps -------------------------------------------------------------------------------------------------


def _seed_code_lists(conn: Connection) -> None:
    for table_name, rows in code_lists().items():
        table = Base.metadata.tables[table_name]
        statement = insert(table).values(rows)
        key = _KEY_COLUMNS[table_name]
        conn.execute(statement.on_conflict_do_update(
            index_elements=[key], set_={c: statement.excluded[c] for c in rows[0] if c != key}))


def _seed_unknown_labels(conn: Connection) -> None:
    """The unknown members of the label dimensions and of ``dim_date``."""
    for sql in (
        "INSERT INTO dim_service_area (service_area_key, division, specialty) VALUES (:unknown, NULL, NULL)",
        "INSERT INTO dim_location_type (location_type_key, location_type) VALUES (:unknown, 'Unknown / not recorded')",
        "INSERT INTO dim_date (date_key, calendar_date, year_number, month_number, month_start, month_label, "
        "financial_year, iso_day_of_week) VALUES (0, NULL, NULL, NULL, NULL, :label, :label, NULL)",
    ):
        conn.execute(sa.text(f"{sql} ON CONFLICT DO NOTHING"), {"unknown": UNKNOWN_KEY, "label": UNKNOWN})


def _version_organisations(conn: Connection, as_of: dt.date) -> list[str]:
    """SCD type 2 over ``organisation`` (small, so compared in Python); returns the ODS codes that changed."""
    dim = Base.metadata.tables["dim_organisation"]
    current = {r.ods_code: r for r in conn.execute(sa.select(dim).where(dim.c.is_current))}
    source = conn.execute(sa.text("SELECT ods_code, name, org_type, icb_code, region_code FROM organisation")).all()
    new_rows: list[dict[str, Any]] = []
    changed: list[str] = []
    for ods, name, org_type, icb, region in source:
        attributes = natural_key(name, org_type, icb, region)
        row = current.get(ods)
        if row is not None and row.attributes_hash == attributes:
            continue
        changed.append(ods)
        version = {"ods_code": ods, "name": name, "org_type": org_type, "icb_code": icb, "region_code": region,
                   "valid_to": None, "is_current": True, "attributes_hash": attributes}
        if row is None:
            new_rows.append({**version, "valid_from": FIRST_VALID_FROM,
                             "organisation_key": natural_key(ods, FIRST_VALID_FROM)})
        elif row.valid_from >= as_of:  # changed again on the day its version opened: correct it in place
            conn.execute(sa.update(dim).where(dim.c.organisation_key == row.organisation_key).values(
                {k: v for k, v in version.items() if k != "ods_code"}))
        else:
            conn.execute(sa.update(dim).where(dim.c.organisation_key == row.organisation_key).values(
                valid_to=as_of, is_current=False))
            new_rows.append({**version, "valid_from": as_of, "organisation_key": natural_key(ods, as_of)})
    if UNKNOWN not in current:
        new_rows.append({"organisation_key": UNKNOWN_KEY, "ods_code": UNKNOWN, "name": "Unknown organisation",
                         "org_type": UNKNOWN, "icb_code": None, "region_code": None, "valid_from": FIRST_VALID_FROM,
                         "valid_to": None, "is_current": True, "attributes_hash": natural_key(UNKNOWN)})
    if new_rows:
        conn.execute(sa.insert(dim), new_rows)
    return changed


def _repoint_organisations(conn: Connection, changed: list[str]) -> None:
    """Point facts of organisations with a new version at the version valid on each fact's date."""
    dates = {"fct_incident": "f.occurred_date", "fct_incident_patient": "i.occurred_date",
             "fct_safety_action": "COALESCE(f.agreed_date, f.due_date, f.completed_date)",
             "fct_learning_response": "f.commissioned_date"}
    params = {"codes": changed}
    for table, on_date in dates.items():
        source = "dim_organisation o"
        where = ""
        if table == "fct_incident_patient":
            source = "fct_incident i, dim_organisation o"
            where = "i.incident_key = f.incident_key AND "
        conn.execute(sa.text(
            f"UPDATE {table} AS f SET organisation_key = o.organisation_key FROM {source} "
            f"WHERE {where}o.ods_code = f.provider_ods AND f.provider_ods IN :codes "
            f"AND COALESCE({on_date}, CAST('9999-12-31' AS DATE)) >= o.valid_from "
            f"AND (o.valid_to IS NULL OR COALESCE({on_date}, CAST('9999-12-31' AS DATE)) < o.valid_to) "
            "AND f.organisation_key <> o.organisation_key"
        ).bindparams(sa.bindparam("codes", expanding=True)), params)


_DIVISION = "COALESCE({i}division_source, {i}service_area_source)"
"""Datix divisions and LFPSE service areas name the same level: one dimension column."""


def _label_dimensions(conn: Connection, since_sql: str, params: dict[str, Any]) -> None:
    """Add the service areas and location types of the changed incidents (first label seen is kept)."""
    division, specialty = _label(_DIVISION.format(i="")), _label("specialty_source")
    location = _label("location_type_source")
    service_area_key = key_sql(conn, "'service_area'", f"lower({division})", f"lower({specialty})")
    location_type_key = key_sql(conn, "'location_type'", f"lower({location})")
    conn.execute(sa.text(
        f"INSERT INTO dim_service_area (service_area_key, division, specialty) "
        f"SELECT {service_area_key}, "
        f"MIN({division}), MIN({specialty}) FROM incident i "
        f"WHERE ({division} IS NOT NULL OR {specialty} IS NOT NULL){since_sql} "
        f"GROUP BY lower({division}), lower({specialty}) ON CONFLICT (service_area_key) DO NOTHING"
    ), params)
    conn.execute(sa.text(
        f"INSERT INTO dim_location_type (location_type_key, location_type) "
        f"SELECT {location_type_key}, MIN({location}) FROM incident i "
        f"WHERE {location} IS NOT NULL{since_sql} GROUP BY lower({location}) "
        "ON CONFLICT (location_type_key) DO NOTHING"
    ), params)


def _service_area_key(conn: Connection) -> str:
    division, specialty = _label(_DIVISION.format(i="i.")), _label("i.specialty_source")
    key = key_sql(conn, "'service_area'", f"lower({division})", f"lower({specialty})")
    return f"CASE WHEN {division} IS NULL AND {specialty} IS NULL THEN :unknown ELSE {key} END"


def _location_type_key(conn: Connection) -> str:
    location = _label("i.location_type_source")
    key = key_sql(conn, "'location_type'", f"lower({location})")
    return f"CASE WHEN {location} IS NULL THEN :unknown ELSE {key} END"


def _gone(fact: str, source: str, key: str) -> str:
    """Delete the facts whose canonical row is gone or deleted, as an anti-join (``NOT EXISTS``): PostgreSQL runs
    ``NOT IN (subquery)`` row by row once the subquery outgrows ``work_mem``, which is quadratic at a million rows."""
    return (f"DELETE FROM {fact} WHERE NOT EXISTS (SELECT 1 FROM {source} s "
            f"WHERE s.{key} = {fact}.{key} AND NOT s.is_deleted)")


def _refresh_incidents(conn: Connection, since: dt.datetime | None, params: dict[str, Any]) -> int:
    changed = "" if since is None else " AND i.updated_at > :since"
    columns = ["incident_key", "provider_ods", "organisation_key", "occurred_date_key", "reported_date_key",
               "occurred_date", "reported_date", "event_type_key", "category_key", "physical_harm_key",
               "psychological_harm_key", "service_area_key", "location_type_key", "duty_of_candour", "never_event",
               "never_event_type_code", "data_sharing_opt_out", "harm_mapping_basis", "days_to_report",
               "refreshed_at"]
    select = f"""
        SELECT i.incident_key, i.provider_ods, COALESCE(o.organisation_key, :unknown),
               {_date_key("i.occurred_date")}, {_date_key("i.reported_date")}, i.occurred_date, i.reported_date,
               COALESCE(et.event_type_key, :unknown), COALESCE(c.category_key, :unknown),
               COALESCE(ph.physical_harm_key, :unknown), COALESCE(ps.psychological_harm_key, :unknown),
               {_service_area_key(conn)}, {_location_type_key(conn)}, i.duty_of_candour, i.never_event,
               i.never_event_type_code, COALESCE(i.data_sharing_opt_out, false), i.harm_mapping_basis,
               {_days("i.reported_date", "i.occurred_date")}, CAST(:now AS TIMESTAMP)
        FROM incident i
        {_org_join("o", "i.provider_ods", "i.occurred_date")}
        {_dim_join("dim_event_type", "et", "i.event_type_code")}
        {_dim_join("dim_incident_category", "c", "i.category_code")}
        {_dim_join("dim_physical_harm", "ph", "i.physical_harm_code")}
        {_dim_join("dim_psychological_harm", "ps", "i.psychological_harm_code")}
        WHERE NOT i.is_deleted{changed}"""
    count = _upsert(conn, "fct_incident", ["incident_key"], columns, select, params)
    deleted = f"SELECT incident_key FROM incident i WHERE i.is_deleted{changed}"
    conn.execute(sa.text(f"DELETE FROM fct_incident_patient WHERE incident_key IN ({deleted})"), params)
    conn.execute(sa.text(f"DELETE FROM fct_incident WHERE incident_key IN ({deleted})"), params)
    if since is None:  # a full refresh also drops facts whose canonical row has gone altogether
        conn.execute(sa.text(_gone("fct_incident", "incident", "incident_key")))
    return count


def _refresh_patients(conn: Connection, since: dt.datetime | None, params: dict[str, Any]) -> int:
    changed = "" if since is None else " AND (p.updated_at > :since OR i.updated_at > :since)"
    columns = ["incident_patient_key", "incident_key", "provider_ods", "organisation_key", "occurred_date_key",
               "physical_harm_key", "psychological_harm_key", "ethnicity_key", "gender_key", "age_bracket_key",
               "age_at_incident_years", "imd_decile", "imd_version", "refreshed_at"]
    select = f"""
        SELECT p.incident_patient_key, p.incident_key, p.provider_ods, COALESCE(o.organisation_key, :unknown),
               {_date_key("i.occurred_date")}, COALESCE(ph.physical_harm_key, :unknown),
               COALESCE(ps.psychological_harm_key, :unknown), COALESCE(e.ethnicity_key, :unknown),
               COALESCE(g.gender_key, :unknown), COALESCE(a.age_bracket_key, :unknown), p.age_at_incident_years,
               CAST(NULL AS INTEGER), CAST(NULL AS VARCHAR), CAST(:now AS TIMESTAMP)
        FROM incident_patient p
        JOIN incident i ON i.incident_key = p.incident_key AND NOT i.is_deleted
        {_org_join("o", "p.provider_ods", "i.occurred_date")}
        {_dim_join("dim_physical_harm", "ph", "p.physical_harm_code")}
        {_dim_join("dim_psychological_harm", "ps", "p.psychological_harm_code")}
        {_dim_join("dim_ethnicity", "e", "p.ethnicity_code")}
        {_dim_join("dim_gender", "g", "p.gender_code")}
        {_dim_join("dim_age_bracket", "a", "p.age_bracket_code")}
        WHERE true{changed}"""
    count = _upsert(conn, "fct_incident_patient", ["incident_patient_key"], columns, select, params)
    # Patients pruned from an updated incident leave no flag behind: remove facts whose canonical row has gone.
    conn.execute(sa.text("DELETE FROM fct_incident_patient WHERE NOT EXISTS (SELECT 1 FROM incident_patient p "
                         "WHERE p.incident_patient_key = fct_incident_patient.incident_patient_key)"))
    return count


_ACTION_DATE = "COALESCE(s.agreed_date, s.due_date, s.completed_date, CAST(:as_of AS DATE))"


def _refresh_actions(conn: Connection, since: dt.datetime | None, params: dict[str, Any]) -> int:
    changed = "" if since is None else " AND s.updated_at > :since"
    columns = ["safety_action_key", "provider_ods", "organisation_key", "owning_org_ods", "incident_key",
               "learning_response_key", "status_key", "agreed_date", "due_date", "revised_due_date",
               "effective_due_date", "completed_date", "due_date_key", "completed_date_key", "is_system_wide",
               "completed_on_time", "refreshed_at"]
    due = "COALESCE(s.revised_due_date, s.due_date)"
    select = f"""
        SELECT s.safety_action_key, s.provider_ods, COALESCE(o.organisation_key, :unknown), s.owning_org_ods,
               s.incident_key, s.learning_response_key, COALESCE(st.status_key, :unknown), s.agreed_date,
               s.due_date, s.revised_due_date, {due}, s.completed_date, {_date_key(due)},
               {_date_key("s.completed_date")}, s.is_system_wide,
               CASE WHEN s.completed_date IS NULL OR {due} IS NULL THEN NULL
                    ELSE s.completed_date <= {due} END,
               CAST(:now AS TIMESTAMP)
        FROM safety_action s
        {_org_join("o", "s.provider_ods", _ACTION_DATE)}
        {_dim_join("dim_status", "st", "s.status_code")}
        WHERE NOT s.is_deleted{changed}"""
    count = _upsert(conn, "fct_safety_action", ["safety_action_key"], columns, select, params)
    gone = "(SELECT safety_action_key FROM safety_action s WHERE s.is_deleted" + changed + ")"
    conn.execute(sa.text(f"DELETE FROM fct_safety_action WHERE safety_action_key IN {gone}"), params)
    if since is None:
        conn.execute(sa.text(_gone("fct_safety_action", "safety_action", "safety_action_key")))
    return count


def _refresh_learning_responses(conn: Connection, since: dt.datetime | None, params: dict[str, Any]) -> int:
    changed = "" if since is None else " AND r.updated_at > :since"
    columns = ["learning_response_key", "provider_ods", "organisation_key", "response_type_key", "status_key",
               "commissioned_date", "due_date", "completed_date", "commissioned_date_key", "completed_date_key",
               "days_to_completion", "patient_family_involved", "staff_involved", "refreshed_at"]
    select = f"""
        SELECT r.learning_response_key, r.provider_ods, COALESCE(o.organisation_key, :unknown),
               COALESCE(t.response_type_key, :unknown), COALESCE(st.status_key, :unknown), r.commissioned_date,
               r.due_date, r.completed_date, {_date_key("r.commissioned_date")}, {_date_key("r.completed_date")},
               {_days("r.completed_date", "r.commissioned_date")}, r.patient_family_involved, r.staff_involved,
               CAST(:now AS TIMESTAMP)
        FROM learning_response r
        {_org_join("o", "r.provider_ods", "COALESCE(r.commissioned_date, CAST(:as_of AS DATE))")}
        {_dim_join("dim_learning_response_type", "t", "r.response_type_code")}
        {_dim_join("dim_status", "st", "r.status_code")}
        WHERE NOT r.is_deleted{changed}"""
    count = _upsert(conn, "fct_learning_response", ["learning_response_key"], columns, select, params)
    gone = "(SELECT learning_response_key FROM learning_response r WHERE r.is_deleted" + changed + ")"
    conn.execute(sa.text(f"DELETE FROM fct_learning_response WHERE learning_response_key IN {gone}"), params)
    if since is None:
        conn.execute(sa.text(_gone("fct_learning_response", "learning_response", "learning_response_key")))
    # The bridge follows learning_response_incident exactly (it has neither updated_at nor a deletion flag).
    conn.execute(sa.text(
        "INSERT INTO bridge_learning_response_incident (learning_response_key, incident_key, provider_ods) "
        "SELECT l.learning_response_key, l.incident_key, l.provider_ods FROM learning_response_incident l "
        "JOIN fct_learning_response r ON r.learning_response_key = l.learning_response_key "
        "ON CONFLICT (learning_response_key, incident_key) DO NOTHING"))
    conn.execute(sa.text(
        "DELETE FROM bridge_learning_response_incident WHERE NOT EXISTS (SELECT 1 FROM learning_response_incident l "
        "JOIN fct_learning_response r ON r.learning_response_key = l.learning_response_key "
        "WHERE l.learning_response_key = bridge_learning_response_incident.learning_response_key "
        "AND l.incident_key = bridge_learning_response_incident.incident_key)"))
    return count


def _extend_dates(conn: Connection) -> None:
    """Make ``dim_date`` continuous from the earliest to the latest date any fact uses."""
    used = " UNION ALL ".join(
        f"SELECT MIN({c}) AS lo, MAX({c}) AS hi FROM {t}" for t, c in (
            ("fct_incident", "occurred_date"), ("fct_incident", "reported_date"),
            ("fct_safety_action", "effective_due_date"), ("fct_safety_action", "completed_date"),
            ("fct_learning_response", "commissioned_date"), ("fct_learning_response", "completed_date"),
            ("dim_date", "calendar_date")))
    lo, hi = conn.execute(sa.text(f"SELECT MIN(lo), MAX(hi) FROM ({used}) u")).one()
    if lo is None:
        return
    day = "CAST(g.d AS DATE)"
    year, month = f"CAST(EXTRACT(YEAR FROM {day}) AS INTEGER)", f"CAST(EXTRACT(MONTH FROM {day}) AS INTEGER)"
    fy = f"(CASE WHEN {month} >= 4 THEN {year} ELSE {year} - 1 END)"
    conn.execute(sa.text(
        "INSERT INTO dim_date (date_key, calendar_date, year_number, month_number, month_start, month_label, "
        "financial_year, iso_day_of_week) "
        f"SELECT {_date_key(day)}, {day}, {year}, {month}, CAST(date_trunc('month', {day}) AS DATE), "
        f"CAST({year} AS VARCHAR) || '-' || lpad(CAST({month} AS VARCHAR), 2, '0'), "
        f"CAST({fy} AS VARCHAR) || '/' || lpad(CAST(MOD({fy} + 1, 100) AS VARCHAR), 2, '0'), "
        f"CAST(EXTRACT(ISODOW FROM {day}) AS INTEGER) "
        "FROM generate_series(CAST(:lo AS TIMESTAMP), CAST(:hi AS TIMESTAMP), INTERVAL '1 day') AS g(d) "
        "ON CONFLICT (date_key) DO NOTHING"), {"lo": lo, "hi": hi})


def _watermarks(conn: Connection) -> dict[str, dt.datetime | None]:
    rows = conn.execute(sa.text("SELECT source_table, watermark FROM mart_refresh_state")).all()
    return {table: watermark for table, watermark in rows}


def _source_maxima(conn: Connection) -> dict[str, dt.datetime | None]:
    union = " UNION ALL ".join(f"SELECT '{t}', MAX(updated_at) FROM {t}" for t in SOURCE_TABLES)
    return {table: latest for table, latest in conn.execute(sa.text(union)).all()}


def _save_watermarks(conn: Connection, maxima: dict[str, dt.datetime | None], counts: dict[str, int],
                     now: dt.datetime) -> None:
    table = Base.metadata.tables["mart_refresh_state"]
    rows = [{"source_table": t, "watermark": maxima[t], "refreshed_at": now, "rows_read": counts[t]}
            for t in SOURCE_TABLES]
    statement = insert(table).values(rows)
    conn.execute(statement.on_conflict_do_update(
        index_elements=["source_table"], set_={c: statement.excluded[c] for c in rows[0] if c != "source_table"}))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def refresh(engine: Engine | None = None, *, as_of: dt.date | None = None, full: bool = False,
            lookback: dt.timedelta | None = None) -> dict[str, Any]:
    """Bring the marts up to date with the canonical tables, incrementally; returns what changed (JSON-able).

    ``as_of`` (default: today, UTC) dates new organisation versions; ``full`` re-reads every canonical row.
    The nightly DAG calls this after every provider's load has finished.
    """
    owned = engine is None
    engine = engine or make_engine()
    lookback = default_lookback() if lookback is None else lookback
    try:
        with engine.begin() as conn:
            exclusive_load_lock(conn)  # waits for loads in flight to commit; new loads wait for this refresh
            now = _utcnow()
            as_of = as_of or now.date()
            _seed_code_lists(conn)
            _seed_unknown_labels(conn)
            changed_orgs = _version_organisations(conn, as_of)
            maxima = _source_maxima(conn)
            marks = {} if full else _watermarks(conn)
            counts: dict[str, int] = {}
            for table, step in (("incident", _refresh_incidents), ("incident_patient", _refresh_patients),
                                ("safety_action", _refresh_actions),
                                ("learning_response", _refresh_learning_responses)):
                since = marks.get(table)
                params = {"since": since, "now": now, "as_of": as_of, "unknown": UNKNOWN_KEY}
                if table == "incident":
                    _label_dimensions(conn, "" if since is None else " AND i.updated_at > :since", params)
                counts[table] = step(conn, since, params)
            if changed_orgs:
                _repoint_organisations(conn, changed_orgs)
            _extend_dates(conn)
            # Rows written in the last ``lookback`` are re-read next time: a margin for clock skew between workers.
            safe = {t: None if m is None else min(m, now - lookback) for t, m in maxima.items()}
            _save_watermarks(conn, safe, counts, now)
    finally:
        if owned:
            engine.dispose()
    return {"as_of": as_of.isoformat(), "full": full, "rows_read": counts, "organisations_versioned": changed_orgs}
