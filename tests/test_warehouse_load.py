"""The batch write path, on DuckDB and PostgreSQL: counts, idempotent reruns, updates, atomicity, types."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from psirf.errors import ConfigError
from psirf.registry import FeedConfig, Provider, load_registry
from warehouse import load as load_module
from warehouse.ledger import loaded_checksums, recent_batches, table_counts
from warehouse.load import ConservationError, LedgerEntry, LoadError, load_batch, record_rejection
from warehouse.models import Base
from warehouse.reference import seed_organisations

EXTRACTED = dt.datetime(2025, 1, 6, 2, 30)
INCIDENT = Base.metadata.tables["incident"]
INCIDENT_PATIENT = Base.metadata.tables["incident_patient"]
SAFETY_ACTION = Base.metadata.tables["safety_action"]
ORGANISATION = Base.metadata.tables["organisation"]
QUARANTINE = Base.metadata.tables["quarantine"]


def _key(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def _provenance(record_id: str, batch_id: str, content: str) -> dict[str, Any]:
    return {
        "provider_ods": "RAJ",
        "source_system": "datix_listing_csv",
        "source_record_id": record_id,
        "batch_id": batch_id,
        "extracted_at": EXTRACTED,
        "row_hash": hashlib.sha256(content.encode()).hexdigest(),
    }


def _nulls(table: sa.Table) -> dict[str, Any]:
    """Every loadable column of ``table`` as NULL, so rows below name only the values a test cares about."""
    return {c.name: None for c in table.columns if c.name not in ("loaded_at", "updated_at")}


def incident_row(n: int, batch_id: str, description: str = "Patient fell in bay 3") -> dict[str, Any]:
    record_id = f"W{n:06d}"
    return _nulls(INCIDENT) | {
        "incident_key": _key("RAJ", record_id),
        "local_reference": f"INC-{n}",
        "event_type_code": "incident",
        "occurred_date": dt.date(2024, 12, 1) + dt.timedelta(days=n % 28),
        "occurred_time": "14:05",
        "reported_date": None if n % 2 else dt.date(2024, 12, 30),
        "category_code": "falls",
        "category_source": "Slips, trips, falls",
        "subcategory_source": None,
        "physical_harm_code": "4",
        "physical_harm_source": "Low harm",
        "psychological_harm_code": None,
        "psychological_harm_source": None,
        "harm_mapping_basis": "provider_profile",
        "result_source": None,
        "division_source": "Medicine",
        "specialty_source": "Elderly care",
        "location_type_source": "Ward",
        "location_exact_source": "Bay 3",
        "description": description,
        "action_taken": "Observed",
        "lessons_learned": None,
        "duty_of_candour": None if n % 3 == 0 else n % 2 == 0,
        "duty_of_candour_source": None,
        "never_event": False,
        "record_origin": "local",
        "approval_status_source": "Final approval",
        "source_updated_at": dt.datetime(2024, 12, 31, 9, 0),
        "is_deleted": False,
        **_provenance(record_id, batch_id, f"{record_id}|{description}"),
    }


def patient_row(n: int, sequence: int, batch_id: str, age: int | None = 80) -> dict[str, Any]:
    record_id = f"W{n:06d}"
    return _nulls(INCIDENT_PATIENT) | {
        "incident_patient_key": _key("RAJ", record_id, sequence),
        "incident_key": _key("RAJ", record_id),
        "patient_sequence": sequence,
        "patient_pseudo_id": None if age is None else _key("nhs", n, sequence) * 2,
        "age_at_incident_years": age,
        "age_bracket_code": None if age is None else "7",
        "gender_code": "2",
        "gender_source": "Female",
        "ethnicity_code": None,
        "ethnicity_source": None,
        "physical_harm_code": "4",
        "physical_harm_source": "Low harm",
        "psychological_harm_code": None,
        "psychological_harm_source": None,
        **_provenance(record_id, batch_id, f"{record_id}|{sequence}|{age}"),
    }


def action_row(n: int, batch_id: str, status: str = "open") -> dict[str, Any]:
    record_id = f"A{n:05d}"
    return _nulls(SAFETY_ACTION) | {
        "safety_action_key": _key("RAJ", "action", record_id),
        "incident_key": _key("RAJ", f"W{n:06d}"),
        "incident_source_record_id": f"W{n:06d}",
        "learning_response_key": None,
        "description": "Introduce falls risk assessment at admission",
        "owner_role": "Ward manager",
        "owning_org_ods": "RAJ",
        "agreed_date": dt.date(2025, 1, 2),
        "due_date": dt.date(2025, 3, 31),
        "revised_due_date": None,
        "completed_date": dt.date(2025, 2, 14) if status == "completed" else None,
        "status_code": status,
        "status_source": status.title(),
        "effectiveness_measure": None,
        "is_system_wide": None,
        "is_deleted": False,
        **_provenance(record_id, batch_id, f"{record_id}|{status}"),
    }


def frame(rows: list[dict[str, Any]], table: sa.Table) -> pd.DataFrame:
    """A frame with the dtypes the pipeline produces under pandas 3: string, Int64, boolean, datetime64, and
    python dates in object columns."""
    columns = [c.name for c in table.columns if c.name not in ("loaded_at", "updated_at")]
    df = pd.DataFrame(rows, columns=columns)
    for column in table.columns:
        if column.name not in df.columns or isinstance(column.type, sa.Date):
            continue
        if isinstance(column.type, sa.Integer):
            df[column.name] = df[column.name].astype("Int64")
        elif isinstance(column.type, sa.Boolean):
            df[column.name] = df[column.name].astype("boolean")
        elif isinstance(column.type, sa.DateTime):
            df[column.name] = pd.to_datetime(df[column.name]).astype("datetime64[us]")
        else:
            df[column.name] = df[column.name].astype("string")
    return df


def quarantine_frame(batch_id: str, rows: list[tuple[int, str]]) -> pd.DataFrame:
    """One quarantine row per (source row number, rule); the key ignores the batch so a reload collides."""
    return frame(
        [
            {
                "quarantine_key": _key("RAJ", "incidents", "file.csv", row, rule),
                "batch_id": batch_id,
                "provider_ods": "RAJ",
                "entity": "incidents",
                "source_file": "incidents_20250106.csv",
                "source_row_number": row,
                "source_record_id": None,
                "rule_id": rule,
                "field": "inc_dincident",
                "found": "blank",
                "expected": "a date",
                "message": "occurred date is missing",
            }
            for row, rule in rows
        ],
        QUARANTINE,
    )


def entry(
    rows_in: int,
    quarantined: int = 0,
    duplicates: int = 0,
    entity: str = "incidents",
    batch_id: str | None = None,
    checksum: str | None = None,
) -> LedgerEntry:
    """A ledger entry for a file of its own (a fresh checksum unless given: one file loads once)."""
    return LedgerEntry(
        batch_id=batch_id or str(uuid.uuid4()),
        run_id="test-run",
        provider_ods="RAJ",
        entity=entity,
        source_system="datix_listing_csv",
        profile="datix_web_listing_v1",
        source_file=f"{entity}_20250106.csv",
        checksum=checksum or uuid.uuid4().hex * 2,
        encoding="utf-8",
        rows_in=rows_in,
        quarantined=quarantined,
        duplicates=duplicates,
        started_at=dt.datetime(2025, 1, 6, 3, 0),
    )


def incident_batch(batch_id: str, numbers: range | list[int], patients: int = 1) -> dict[str, pd.DataFrame]:
    return {
        "incidents": frame([incident_row(n, batch_id) for n in numbers], INCIDENT),
        "incident_patients": frame(
            [patient_row(n, s, batch_id) for n in numbers for s in range(1, patients + 1)], INCIDENT_PATIENT
        ),
    }


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every warehouse table, in key order."""
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
        }


def rows_of(engine: Engine, table: sa.Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(*table.primary_key.columns)).mappings()]


NO_QUARANTINE = pd.DataFrame()


# --- loading -----------------------------------------------------------------------------------------------


def test_first_load_inserts_and_records_the_batch(migrated_engine: Engine) -> None:
    batch = entry(rows_in=6, quarantined=2, duplicates=1)
    tables = incident_batch(batch.batch_id, range(3), patients=2)
    quarantine = quarantine_frame(batch.batch_id, [(4, "occurred_date_required"), (4, "harm_known"), (5, "x")])

    result = load_batch(migrated_engine, batch, tables, quarantine)

    assert (result.status, result.rows_in, result.loaded) == ("loaded", 6, 3)
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    assert (result.quarantined, result.duplicates, result.message) == (2, 1, None)
    assert result.as_dict()["batch_id"] == batch.batch_id
    counts = table_counts(migrated_engine)
    assert counts == {
        "incident": 3,
        "incident_patient": 6,
        "safety_action": 0,
        "learning_response": 0,
        "batch_ledger": 1,
        "quarantine": 3,
    }

    [ledger] = recent_batches(migrated_engine)
    assert {k: ledger[k] for k in result.as_dict()} == result.as_dict()
    assert ledger["checksum"] == batch.checksum and ledger["started_at"] == batch.started_at
    assert isinstance(ledger["finished_at"], dt.datetime) and ledger["finished_at"] >= batch.started_at

    incidents = rows_of(migrated_engine, INCIDENT)
    assert all(r["batch_id"] == batch.batch_id for r in incidents)
    assert all(r["loaded_at"] == r["updated_at"] for r in incidents)


def test_rerun_of_the_same_batch_changes_nothing(migrated_engine: Engine) -> None:
    first = entry(rows_in=4, quarantined=1)
    load_batch(
        migrated_engine,
        first,
        incident_batch(first.batch_id, range(3)),
        quarantine_frame(first.batch_id, [(4, "occurred_date_required")]),
    )
    before = {k: v for k, v in snapshot(migrated_engine).items() if k != "batch_ledger"}

    again = entry(rows_in=4, quarantined=1)
    result = load_batch(
        migrated_engine,
        again,
        incident_batch(again.batch_id, range(3)),
        quarantine_frame(again.batch_id, [(4, "occurred_date_required")]),
    )

    assert (result.inserted, result.updated, result.unchanged, result.loaded) == (0, 0, 3, 3)
    after = snapshot(migrated_engine)
    assert {k: v for k, v in after.items() if k != "batch_ledger"} == before  # rows keep their first batch_id
    assert len(after["batch_ledger"]) == 2


def test_changed_row_hash_updates_in_place(migrated_engine: Engine) -> None:
    first = entry(rows_in=3)
    load_batch(migrated_engine, first, incident_batch(first.batch_id, range(3)), NO_QUARANTINE)
    original = {r["incident_key"]: r for r in rows_of(migrated_engine, INCIDENT)}

    second = entry(rows_in=3)
    tables = incident_batch(second.batch_id, range(3))
    tables["incidents"] = frame(
        [
            incident_row(n, second.batch_id, "Fell; hip X-ray clear" if n == 1 else "Patient fell in bay 3")
            for n in range(3)
        ],
        INCIDENT,
    )
    result = load_batch(migrated_engine, second, tables, NO_QUARANTINE)

    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 2)
    rows = {r["incident_key"]: r for r in rows_of(migrated_engine, INCIDENT)}
    assert len(rows) == 3
    changed = rows[_key("RAJ", "W000001")]
    assert changed["description"] == "Fell; hip X-ray clear"
    assert changed["batch_id"] == second.batch_id
    assert changed["loaded_at"] == original[changed["incident_key"]]["loaded_at"]
    assert changed["updated_at"] > changed["loaded_at"]
    untouched = rows[_key("RAJ", "W000000")]
    assert untouched == original[untouched["incident_key"]]


def test_failure_between_staging_and_merge_leaves_the_warehouse_as_it_was(
    migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = entry(rows_in=4, quarantined=1)
    load_batch(
        migrated_engine,
        first,
        incident_batch(first.batch_id, range(3)),
        quarantine_frame(first.batch_id, [(4, "occurred_date_required")]),
    )
    before = snapshot(migrated_engine)

    real_merge = load_module._merge_table
    calls: list[str] = []

    def merge_then_fail(conn: sa.Connection, table: sa.Table, staging: str, now: dt.datetime) -> None:
        calls.append(table.name)
        if len(calls) > 1:  # the first table has been merged by now: that must be undone too
            raise RuntimeError("injected failure")
        real_merge(conn, table, staging, now)

    monkeypatch.setattr(load_module, "_merge_table", merge_then_fail)
    second = entry(rows_in=6, quarantined=1)
    tables = incident_batch(second.batch_id, range(1, 6), patients=2)
    tables["incidents"].loc[0, "row_hash"] = "f" * 64
    with pytest.raises(RuntimeError, match="injected failure"):
        load_batch(migrated_engine, second, tables, quarantine_frame(second.batch_id, [(9, "harm_known")]))

    assert calls == ["incident", "incident_patient"]
    assert snapshot(migrated_engine) == before

    monkeypatch.setattr(load_module, "_merge_table", real_merge)  # the same connection pool still works
    result = load_batch(migrated_engine, second, tables, quarantine_frame(second.batch_id, [(9, "harm_known")]))
    assert (result.inserted, result.updated, result.unchanged) == (3, 1, 1)


def test_conservation_violation_raises_and_writes_nothing(migrated_engine: Engine) -> None:
    batch = entry(rows_in=5, quarantined=1)  # 3 loaded + 1 quarantined is 4, not 5
    with pytest.raises(ConservationError, match=r"rows_in 5 != loaded 3 \+ quarantined 1 \+ duplicates 0"):
        load_batch(
            migrated_engine,
            batch,
            incident_batch(batch.batch_id, range(3)),
            quarantine_frame(batch.batch_id, [(4, "occurred_date_required")]),
        )
    assert all(rows == [] for rows in snapshot(migrated_engine).values())


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda t: t["incidents"].drop(columns=["never_event"]), r"missing \['never_event'\]"),
        (lambda t: t["incidents"].assign(loaded_at=EXTRACTED), r"unexpected \['loaded_at'\]"),
        (lambda t: t["incidents"].assign(occurred_date=None), r"occurred_date: 3 NULL value\(s\)"),
        (lambda t: t["incidents"].assign(occurred_time="14:05:00"), r"occurred_time: 3 value\(s\) longer than 5"),
        (lambda t: pd.concat([t["incidents"], t["incidents"].head(1)]), r"1 duplicate key\(s\) on incident_key"),
    ],
    ids=["missing-column", "extra-column", "not-null", "too-long", "duplicate-key"],
)
def test_an_inconsistent_frame_is_refused_the_same_way_on_both_engines(
    migrated_engine: Engine, spoil: Any, message: str
) -> None:
    batch = entry(rows_in=3)
    tables = incident_batch(batch.batch_id, range(3))
    tables["incidents"] = spoil(tables)
    with pytest.raises(LoadError, match=message):
        load_batch(migrated_engine, batch, tables, NO_QUARANTINE)
    assert table_counts(migrated_engine) == dict.fromkeys(table_counts(migrated_engine), 0)


def test_record_rejection_writes_only_a_ledger_row(migrated_engine: Engine) -> None:
    batch = entry(rows_in=12, quarantined=7, duplicates=1)
    result = record_rejection(migrated_engine, batch, "58% of rows invalid (limit 50%)")

    assert (result.status, result.rows_in, result.quarantined, result.duplicates) == ("rejected", 12, 12, 0)
    assert (result.loaded, result.inserted, result.updated, result.unchanged) == (0, 0, 0, 0)
    [ledger] = recent_batches(migrated_engine)
    assert {k: ledger[k] for k in result.as_dict()} == result.as_dict()
    assert ledger["message"] == "58% of rows invalid (limit 50%)"
    assert {k: v for k, v in table_counts(migrated_engine).items() if k != "batch_ledger"} == dict.fromkeys(
        ["incident", "incident_patient", "safety_action", "learning_response", "quarantine"], 0
    )
    assert loaded_checksums(migrated_engine, "RAJ", "incidents") == set()


def test_patients_an_updated_incident_no_longer_has_are_removed(migrated_engine: Engine) -> None:
    first = entry(rows_in=2)
    load_batch(migrated_engine, first, incident_batch(first.batch_id, range(2), patients=3), NO_QUARANTINE)

    second = entry(rows_in=1)
    tables = {
        "incidents": frame([incident_row(0, second.batch_id, "Two patients, not three")], INCIDENT),
        "incident_patients": frame([patient_row(0, s, second.batch_id) for s in (1, 2)], INCIDENT_PATIENT),
    }
    result = load_batch(migrated_engine, second, tables, NO_QUARANTINE)

    assert (result.updated, result.loaded) == (1, 1)
    patients = rows_of(migrated_engine, INCIDENT_PATIENT)
    by_incident = sorted((p["incident_key"], p["patient_sequence"]) for p in patients)
    assert by_incident == sorted(
        [(_key("RAJ", "W000000"), 1), (_key("RAJ", "W000000"), 2)] + [(_key("RAJ", "W000001"), s) for s in (1, 2, 3)]
    )  # other incident untouched


def test_safety_action_batch_round_trips_dates_and_nulls(migrated_engine: Engine) -> None:
    batch = entry(rows_in=2, entity="safety_actions")
    tables = {
        "safety_actions": frame(
            [action_row(1, batch.batch_id), action_row(2, batch.batch_id, "completed")], SAFETY_ACTION
        )
    }
    result = load_batch(migrated_engine, batch, tables, NO_QUARANTINE)

    assert (result.entity, result.inserted, result.loaded) == ("safety_actions", 2, 2)
    open_action, done = rows_of(migrated_engine, SAFETY_ACTION)
    if open_action["status_code"] != "open":
        open_action, done = done, open_action
    for row in (open_action, done):
        assert type(row["agreed_date"]) is dt.date and row["agreed_date"] == dt.date(2025, 1, 2)
        assert type(row["due_date"]) is dt.date
        assert row["revised_due_date"] is None and row["learning_response_key"] is None
        assert row["is_system_wide"] is None and row["is_deleted"] is False
        assert type(row["extracted_at"]) is dt.datetime and row["extracted_at"] == EXTRACTED
    assert open_action["completed_date"] is None
    assert done["completed_date"] == dt.date(2025, 2, 14) and type(done["completed_date"]) is dt.date


def test_other_pandas_representations_load_the_same(migrated_engine: Engine) -> None:
    """Dates as datetime64, all-NULL columns typed object, Int64 and boolean, integers as floats, aware times."""
    batch = entry(rows_in=2)
    rows = [incident_row(n, batch.batch_id) for n in range(2)]
    incidents = pd.DataFrame(rows)
    incidents["occurred_date"] = pd.to_datetime(incidents["occurred_date"])  # datetime64, not date objects
    incidents["reported_date"] = None  # all NULL, object dtype
    incidents["duty_of_candour"] = pd.array([None, None], dtype="boolean")
    incidents["lessons_learned"] = pd.array([None, None], dtype="string")
    incidents["source_updated_at"] = pd.to_datetime(incidents["source_updated_at"]).dt.tz_localize("Europe/London")
    patients = pd.DataFrame([patient_row(n, 1, batch.batch_id, age=None if n else 71) for n in range(2)])
    patients["age_at_incident_years"] = patients["age_at_incident_years"].astype("float64")  # 71.0 and NaN
    patients["patient_sequence"] = patients["patient_sequence"].astype("Int64")

    load_batch(migrated_engine, batch, {"incidents": incidents, "incident_patients": patients}, NO_QUARANTINE)

    loaded = rows_of(migrated_engine, INCIDENT)
    for row in loaded:
        assert type(row["occurred_date"]) is dt.date
        assert row["reported_date"] is None and row["duty_of_candour"] is None and row["lessons_learned"] is None
        assert row["source_updated_at"] == dt.datetime(2024, 12, 31, 9, 0)  # winter: London is UTC
    patients_loaded = rows_of(migrated_engine, INCIDENT_PATIENT)
    ages = {r["source_record_id"]: r["age_at_incident_years"] for r in patients_loaded}
    assert ages == {"W000000": 71, "W000001": None}
    assert all(type(r["patient_sequence"]) is int for r in patients_loaded)


def test_twenty_thousand_rows_take_the_bulk_path(migrated_engine: Engine) -> None:
    n = 20_000
    batch = entry(rows_in=n)
    template = incident_row(0, batch.batch_id)
    incidents = pd.DataFrame([template] * n)
    record_ids = pd.Series([f"B{i:07d}" for i in range(n)], dtype="string")
    incidents["source_record_id"] = record_ids
    incidents["incident_key"] = [_key("RAJ", r) for r in record_ids]
    incidents["row_hash"] = [hashlib.sha256(r.encode()).hexdigest() for r in record_ids]
    incidents["occurred_date"] = pd.Series(pd.date_range("2020-01-01", periods=n, freq="h")).dt.date
    patients = pd.DataFrame([patient_row(0, 1, batch.batch_id)] * n)
    patients["source_record_id"] = record_ids
    patients["incident_key"] = incidents["incident_key"]
    patients["incident_patient_key"] = [_key(k, 1) for k in incidents["incident_key"]]
    patients["age_at_incident_years"] = pd.array(range(n), dtype="Int64") % 100

    started = time.perf_counter()
    result = load_batch(migrated_engine, batch, {"incidents": incidents, "incident_patients": patients}, NO_QUARANTINE)
    first = time.perf_counter() - started
    again = load_batch(
        migrated_engine, entry(rows_in=n), {"incidents": incidents, "incident_patients": patients}, NO_QUARANTINE
    )
    total = time.perf_counter() - started

    assert (result.inserted, again.unchanged) == (n, n)
    counts = table_counts(migrated_engine)
    assert (counts["incident"], counts["incident_patient"]) == (n, n)
    assert first < 15 and total < 30, f"bulk path too slow: {first:.1f}s first load, {total:.1f}s both"


# --- ledger queries and reference data ---------------------------------------------------------------------


def test_ledger_queries(migrated_engine: Engine) -> None:
    a = entry(rows_in=1, checksum="a" * 64)
    load_batch(migrated_engine, a, incident_batch(a.batch_id, [1]), NO_QUARANTINE)
    b = entry(rows_in=1, entity="safety_actions", checksum="b" * 64)
    load_batch(migrated_engine, b, {"safety_actions": frame([action_row(1, b.batch_id)], SAFETY_ACTION)}, NO_QUARANTINE)
    record_rejection(migrated_engine, entry(rows_in=3, checksum="r" * 64), "undecodable")

    assert loaded_checksums(migrated_engine, "RAJ", "incidents") == {"a" * 64}
    assert loaded_checksums(migrated_engine, "RAJ", "safety_actions") == {"b" * 64}
    assert loaded_checksums(migrated_engine, "RDE", "incidents") == set()
    assert len(recent_batches(migrated_engine)) == 3
    assert len(recent_batches(migrated_engine, limit=2)) == 2
    assert recent_batches(migrated_engine, provider_ods="RDE") == []


def _provider(ods_code: str, name: str) -> Provider:
    return Provider(ods_code, name, "csv_drop", "datix_web_listing_v1", FeedConfig(path=Path("unused"), globs={}))


def test_seed_organisations_is_idempotent(migrated_engine: Engine) -> None:
    providers = [*load_registry(), _provider("F81001", "Example Surgery")]
    expected = len({p.ods_code for p in providers} | {"RAJ", "R1L", "RDE", "RQW", "RYC"})  # + the trusts file
    assert seed_organisations(migrated_engine, providers) == expected
    first = rows_of(migrated_engine, ORGANISATION)
    assert seed_organisations(migrated_engine, providers) == expected
    assert rows_of(migrated_engine, ORGANISATION) == first

    by_code = {r["ods_code"]: r for r in first}
    assert by_code["RAJ"] == {
        "ods_code": "RAJ",
        "name": "MID AND SOUTH ESSEX NHS FOUNDATION TRUST",
        "org_type": "trust",
        "icb_code": "QH8",
        "region_code": "Y61",
    }
    assert by_code["F81001"] == {
        "ods_code": "F81001",
        "name": "Example Surgery",
        "org_type": "gp_practice",
        "icb_code": None,
        "region_code": None,
    }


def test_seed_organisations_refuses_an_unrecognisable_code(migrated_engine: Engine) -> None:
    with pytest.raises(ConfigError, match="XYZ-1"):
        seed_organisations(migrated_engine, [_provider("XYZ-1", "Odd")])
    assert rows_of(migrated_engine, ORGANISATION) == []
