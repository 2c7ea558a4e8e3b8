"""The nightly load end to end on the demo feeds, on DuckDB and on PostgreSQL: exact counts, reruns, updates."""

import csv

import pytest
import sqlalchemy as sa

from psirf.pipeline import extract_provider, load_processed, process_batch, run_provider
from psirf.registry import load_registry
from tests.identifiers import POSTCODE, nhs_numbers_in
from warehouse.ledger import table_counts
from warehouse.reference import seed_organisations

PROVIDERS = ["RAJ", "R1L", "RDE", "RQW", "RYC", "QH8"]
DATIX_STYLE = ["RAJ", "R1L", "RDE", "RQW", "RYC"]  # CSV, REST, Excel, CSV, CSV: the same planted defects


@pytest.fixture
def demo(demo_estate, warehouse_url, migrated_engine, monkeypatch):
    home, manifest, _ = demo_estate
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    seed_organisations(migrated_engine, load_registry(home=home))
    return home, manifest, migrated_engine


def _load_all(engine):
    return {ods: run_provider(ods, run_id="test-run", engine=engine) for ods in PROVIDERS}


def _scalar(engine, query, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).scalar()


def test_planted_defects_give_exact_counts(demo):
    home, manifest, engine = demo
    assert_planted_counts(manifest, engine, _load_all(engine))


def assert_planted_counts(manifest, engine, results):
    """Every planted defect is found exactly: per batch counts, quarantine rules, table counts, the ledger."""
    for ods in DATIX_STYLE:
        by_entity = {r["entity"]: r for r in results[ods]}
        assert len(by_entity) == len(results[ods])  # one batch per entity, whatever the source family
        for entity, expected in manifest["providers"][ods]["files"].items():
            got = by_entity[entity]
            assert got["status"] == "loaded"
            assert (got["rows_in"], got["loaded"], got["quarantined"], got["duplicates"]) == (
                expected["rows_in"], expected["expected_loaded"], expected["expected_quarantined"],
                expected["expected_duplicates"]), (ods, entity)
            with engine.connect() as conn:
                rules = dict(conn.execute(sa.text(
                    "SELECT rule_id, COUNT(DISTINCT source_row_number) FROM quarantine WHERE batch_id = :b "
                    "GROUP BY rule_id"), {"b": got["batch_id"]}).all())
            assert rules == expected.get("quarantined_by_rule", {}), (ods, entity)
    datix = [manifest["providers"][ods] for ods in DATIX_STYLE]
    lfpse = manifest["providers"]["QH8"]["lfpse"]["final_state"]
    counts = table_counts(engine)
    assert counts["incident"] == sum(m["files"]["incidents"]["expected_loaded"] for m in datix) + lfpse[
        "events_loaded"]
    assert counts["safety_action"] == sum(m["files"]["safety_actions"]["expected_loaded"] for m in datix)
    assert counts["learning_response"] == manifest["providers"]["R1L"]["files"]["learning_responses"]["rows_in"]
    with_nhs = sum(m["files"]["incidents"]["with_nhs_number"] for m in datix)
    assert _scalar(engine, "SELECT COUNT(*) FROM incident_patient WHERE patient_pseudo_id IS NOT NULL "
                           "AND provider_ods <> 'QH8'") == with_nhs
    # the conservation law holds for every batch
    assert _scalar(engine, "SELECT COUNT(*) FROM batch_ledger WHERE rows_in <> loaded + quarantined + duplicates") == 0
    assert _scalar(engine, "SELECT COUNT(*) FROM batch_ledger") == 2 * 5 + 1 + len(manifest["providers"]["QH8"][
        "lfpse"]["files"])  # two files each, R1L's learning responses, the LFPSE files


def test_rerun_changes_nothing(demo):
    home, manifest, engine = demo
    _load_all(engine)
    before = table_counts(engine)
    assert all(extract_provider(ods, engine=engine) == [] for ods in PROVIDERS)  # same checksums: skipped
    assert all(r == [] for r in _load_all(engine).values())
    assert table_counts(engine) == before


def test_reloading_the_same_file_as_a_new_batch_finds_every_row_unchanged(demo):
    home, manifest, engine = demo
    _load_all(engine)
    before = table_counts(engine)
    path = home / manifest["providers"]["RAJ"]["files"]["incidents"]["path"]
    ref = {"batch_id": "00000000-0000-0000-0000-000000000001", "run_id": None, "provider_ods": "RAJ",
           "entity": "incidents", "profile": "datix_web_listing_v1", "source_file": str(path), "checksum": "forced",
           "extracted_at": "2026-11-27T00:00:00"}
    result = load_processed(process_batch(ref))
    expected = manifest["providers"]["RAJ"]["files"]["incidents"]["expected_loaded"]
    assert (result["inserted"], result["updated"], result["unchanged"]) == (0, 0, expected)
    after = table_counts(engine)
    assert {k: v for k, v in after.items() if k not in ("batch_ledger", "quarantine")} == {
        k: v for k, v in before.items() if k not in ("batch_ledger", "quarantine")}


def test_changed_source_record_updates_its_row(demo):
    home, manifest, engine = demo
    _load_all(engine)
    src = home / manifest["providers"]["RQW"]["files"]["incidents"]["path"]
    with src.open(encoding="cp1252", newline="") as fh:
        rows = list(csv.DictReader(fh))
    target = next(r for r in rows if r["Actual Harm"] == "None (No harm)" and r["Datix ID"] and r["NHS Number"] == ""
                  and r["Approval Status"] != "REJECT")
    changed = {**target, "Actual Harm": "Moderate (Short-term harm: required further treatment or procedure)",
               "Duty of Candour": "Yes"}
    newer = src.with_name("incidents_20261101.csv")
    with newer.open("w", encoding="cp1252", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerow(changed)
    before = table_counts(engine)
    [result] = run_provider("RQW", engine=engine)
    assert (result["rows_in"], result["inserted"], result["updated"], result["unchanged"]) == (1, 0, 1, 0)
    assert table_counts(engine)["incident"] == before["incident"]
    with engine.connect() as conn:
        harm, source, candour = conn.execute(sa.text(
            "SELECT physical_harm_code, physical_harm_source, duty_of_candour FROM incident "
            "WHERE provider_ods = 'RQW' AND source_record_id = :id"), {"id": target["Datix ID"]}).one()
    assert (harm, candour) == ("3", True) and source.startswith("Moderate")


def test_no_valid_nhs_number_or_identifier_anywhere_in_the_warehouse(demo):
    home, manifest, engine = demo
    _load_all(engine)
    found = []
    inspector = sa.inspect(engine)
    with engine.connect() as conn:
        for table in inspector.get_table_names():
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")).all():
                for value in row:
                    if isinstance(value, str):
                        found += nhs_numbers_in(value)
                        assert not POSTCODE.search(value), (table, value)
    assert found == []


def test_rejected_batch_is_recorded_and_writes_nothing_else(demo):
    home, manifest, engine = demo
    folder = home / "demo_feeds" / "RQW"
    for f in folder.glob("*.csv"):
        f.unlink()
    (folder / "incidents_20261101.csv").write_text("Datix ID,Incident Date\r\n1,01/01/2026\r\n", encoding="utf-8")
    before = table_counts(engine)
    [result] = run_provider("RQW", engine=engine)
    assert result["status"] == "rejected" and "'Actual Harm'" in result["message"]
    after = table_counts(engine)
    assert after["batch_ledger"] == before["batch_ledger"] + 1
    assert {k: v for k, v in after.items() if k != "batch_ledger"} == {
        k: v for k, v in before.items() if k != "batch_ledger"}
    with engine.connect() as conn:
        status, rows_in, quarantined, message = conn.execute(sa.text(
            "SELECT status, rows_in, quarantined, message FROM batch_ledger WHERE provider_ods = 'RQW'")).one()
    assert (status, rows_in, quarantined) == ("rejected", 1, 1)
    assert "'Actual Harm' (for physical_harm)" in message
