"""Hand-built canonical rows for the mart, view, access and report tests: only the fields a test cares about.

Rows go straight into the canonical tables (the loader is tested elsewhere); provenance gets fixed values and
``updated_at`` the current time, which is what the incremental refresh reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from transforms.keys import natural_key
from warehouse.models import Base


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _provenance(provider: str, rid: str) -> dict[str, Any]:
    stamp = now()
    return {"provider_ods": provider, "source_system": "test", "source_record_id": rid, "batch_id": "b-test",
            "extracted_at": stamp, "row_hash": natural_key(provider, rid, stamp), "loaded_at": stamp,
            "updated_at": stamp}


def incident(provider: str, rid: str, occurred: dt.date, *, reported: dt.date | None = None, harm: str = "5",
             psych: str | None = None, event: str = "incident", category: str | None = None,
             doc: bool | None = None, never: bool | None = None, division: str | None = None,
             specialty: str | None = None, location: str | None = None, deleted: bool = False,
             never_type: str | None = None, opt_out: bool | None = None,
             notified: dt.date | None = None) -> dict[str, Any]:
    return {
        **_provenance(provider, rid), "incident_key": natural_key(provider, rid), "local_reference": None,
        "event_type_code": event, "occurred_date": occurred, "occurred_time": None, "reported_date": reported,
        "category_code": category, "category_source": None, "subcategory_source": None, "physical_harm_code": harm,
        "physical_harm_source": None, "psychological_harm_code": psych, "psychological_harm_source": None,
        "harm_mapping_basis": "provider_profile", "result_source": None, "division_source": division,
        "specialty_source": specialty, "location_type_source": location, "location_exact_source": None,
        "description": f"free text of {rid}", "action_taken": None, "lessons_learned": None,
        "duty_of_candour": doc, "duty_of_candour_source": None, "duty_of_candour_notified_date": notified,
        "never_event": never,
        "never_event_type_code": never_type, "data_sharing_opt_out": opt_out,
        "approval_status_source": None, "source_updated_at": None, "is_deleted": deleted,
    }


def patient(inc: dict[str, Any], seq: int, *, harm: str = "5", psych: str | None = None,
            ethnicity: str | None = None, gender: str | None = None, bracket: str | None = None,
            age: int | None = None) -> dict[str, Any]:
    rid = inc["source_record_id"]
    return {
        **_provenance(inc["provider_ods"], rid), "incident_patient_key": natural_key(inc["provider_ods"], rid, seq),
        "incident_key": inc["incident_key"], "patient_sequence": seq, "patient_pseudo_id": None,
        "age_at_incident_years": age, "age_bracket_code": bracket, "gender_code": gender, "gender_source": None,
        "ethnicity_code": ethnicity, "ethnicity_source": None, "physical_harm_code": harm,
        "physical_harm_source": None, "psychological_harm_code": psych, "psychological_harm_source": None,
    }


def action(provider: str, rid: str, *, status: str = "open", due: dt.date | None = None,
           revised: dt.date | None = None, completed: dt.date | None = None, agreed: dt.date | None = None,
           system_wide: bool | None = False, incident_key: str | None = None,
           deleted: bool = False) -> dict[str, Any]:
    return {
        **_provenance(provider, rid), "safety_action_key": natural_key(provider, "action", rid),
        "incident_key": incident_key, "incident_source_record_id": None, "learning_response_key": None,
        "description": f"action text {rid}", "owner_role": "Ward manager", "owning_org_ods": provider,
        "agreed_date": agreed, "due_date": due, "revised_due_date": revised, "completed_date": completed,
        "status_code": status, "status_source": None, "effectiveness_measure": "audit", "is_system_wide": system_wide,
        "is_deleted": deleted,
    }


def learning_response(provider: str, rid: str, *, kind: str = "psii", status: str = "open",
                      commissioned: dt.date | None = None, due: dt.date | None = None,
                      completed: dt.date | None = None, deleted: bool = False) -> dict[str, Any]:
    return {
        **_provenance(provider, rid), "learning_response_key": natural_key(provider, "lr", rid),
        "response_type_code": kind, "response_type_source": None, "commissioned_date": commissioned,
        "due_date": due, "completed_date": completed, "status_code": status, "status_source": None,
        "patient_family_involved": True, "staff_involved": True, "is_deleted": deleted,
    }


def link(lr: dict[str, Any], inc: dict[str, Any]) -> dict[str, Any]:
    return {"learning_response_key": lr["learning_response_key"], "incident_key": inc["incident_key"],
            "provider_ods": lr["provider_ods"], "batch_id": "b-test"}


def insert(engine: Engine, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        with engine.begin() as conn:
            conn.execute(sa.insert(Base.metadata.tables[table]), rows)


def touch(engine: Engine, table: str, where: str, **params: Any) -> None:
    """Stamp rows as changed now, as the loader does when it changes them (the incremental marts read this)."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET updated_at = :t WHERE {where}"), {"t": now(), **params})


def seed_organisations(engine: Engine) -> None:
    from warehouse.reference import seed_organisations as seed

    seed(engine, [])


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def view(engine: Engine, name: str, order_by: str = "1") -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM {name} ORDER BY {order_by}"))]
