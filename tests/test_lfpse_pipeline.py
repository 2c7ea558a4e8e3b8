"""LFPSE FHIR exports through the whole pipeline, on DuckDB and PostgreSQL: patients, updates, deletions, replays."""

import csv

import pytest
import sqlalchemy as sa

from demo.lfpse import generate_lfpse_feeds, write_older_replay
from psirf.pipeline import run_provider
from psirf.settings import REFERENCE_DIR as REFERENCE
from warehouse.ledger import table_counts


@pytest.fixture
def lfpse(tmp_path, warehouse_url, migrated_engine, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("PSIRF_HOME", str(home))
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
    feed = home / "demo_feeds" / "LFPSE_QH8"
    manifest = generate_lfpse_feeds(feed, events_per_practice=12)
    return feed, manifest, migrated_engine


def _rows(engine, query, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).all()


def test_lfpse_export_loads_events_patients_updates_and_deletions(lfpse):
    feed, manifest, engine = lfpse
    results = run_provider("QH8", engine=engine)

    by_file = {r["source_file"].rsplit("/", 1)[-1]: r for r in results}
    assert set(by_file) == set(manifest["files"])
    for name, expected in manifest["files"].items():
        got = by_file[name]
        assert got["status"] == "loaded", got
        assert (got["rows_in"], got["loaded"], got["quarantined"]) == (
            expected["rows_in"], expected["expected_loaded_rows"], sum(expected["quarantined"].values())), name
    changes = by_file["lfpse_20261031_changes.json"]
    assert (changes["updated"], changes["deleted"]) == (manifest["totals"]["updates"], manifest["totals"]["deletions"])

    final = manifest["final_state"]
    [(events, deleted)] = _rows(engine, "SELECT COUNT(*), SUM(CASE WHEN is_deleted THEN 1 ELSE 0 END) FROM incident")
    assert (events, deleted) == (final["events_loaded"], final["deleted_events"])
    [deleted_id] = manifest["deleted_resource_ids"]
    assert _rows(engine, "SELECT is_deleted FROM incident WHERE source_record_id = :id", id=deleted_id) == [(True,)]

    # harm is per patient; the incident carries the worst of its patients (LFPSE codes run backwards)
    three = manifest["three_patient_event"]
    patients = _rows(engine, "SELECT p.patient_sequence, p.physical_harm_code, p.psychological_harm_code "
                             "FROM incident_patient p JOIN incident i ON i.incident_key = p.incident_key "
                             "WHERE i.source_record_id = :id ORDER BY 1", id=three["resource_id"])
    assert [(h, ph) for _, h, ph in patients] == list(zip(three["physical_harm"], three["psychological_harm"],
                                                           strict=True))
    [(worst, worst_psych, basis)] = _rows(engine, "SELECT physical_harm_code, psychological_harm_code, "
                                                  "harm_mapping_basis FROM incident WHERE source_record_id = :id",
                                          id=three["resource_id"])
    assert worst == min(three["physical_harm"]) and worst_psych == min(three["psychological_harm"])
    assert basis == "lfpse"

    # gender and ethnicity land in NHS Data Dictionary codes, the LFPSE codes kept beside them
    pairs = set(_rows(engine, "SELECT gender_source, gender_code FROM incident_patient "
                              "WHERE gender_source IS NOT NULL"))
    assert pairs <= {("1", "2"), ("2", "1"), ("3", "X"), ("4", "9")} and pairs
    ethnic = set(_rows(engine, "SELECT ethnicity_source, ethnicity_code FROM incident_patient "
                               "WHERE ethnicity_source IS NOT NULL"))
    with (REFERENCE / "nhs_dd_ethnic_category.csv").open(encoding="utf-8") as fh:
        crosswalk = {r["lfpse_v5_code"]: r["code"] for r in csv.DictReader(fh) if r["lfpse_v5_code"]}
    assert ethnic and all(crosswalk[lfpse] == dd for lfpse, dd in ethnic)  # the Data Dictionary crosswalk


def test_an_older_file_replayed_after_a_newer_one_changes_nothing(lfpse):
    feed, manifest, engine = lfpse
    run_provider("QH8", engine=engine)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT incident_key, row_hash, is_deleted, physical_harm_code FROM incident "
                                      "ORDER BY 1")).all()
    counts = table_counts(engine)
    replay = write_older_replay(feed, events_per_practice=12)

    [result] = run_provider("QH8", engine=engine)

    assert result["source_file"].endswith(replay["file"])
    assert (result["inserted"], result["updated"], result["unchanged"]) == (0, 0, replay["events"])
    assert result["superseded"] == len(manifest["updated_resource_ids"])  # older versions, not applied
    with engine.connect() as conn:
        after = conn.execute(sa.text("SELECT incident_key, row_hash, is_deleted, physical_harm_code FROM incident "
                                     "ORDER BY 1")).all()
    assert after == before  # no record rolled back, the deleted one not brought back
    assert {k: v for k, v in table_counts(engine).items() if k not in ("batch_ledger",)} == {
        k: v for k, v in counts.items() if k not in ("batch_ledger",)} | {"quarantine": counts["quarantine"]}
