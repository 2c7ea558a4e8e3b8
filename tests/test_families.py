"""Source families behind one interface: the registry is the only place that knows them by name, a new family is
one folder and one registry line, every family has raw-layer checks, and the LFPSE reader is as tolerant as the
standard (a v5 event with neither ``meta.lastUpdated`` nor ``type.coding`` loads, with the fallbacks recorded)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from connectors import registry as families
from connectors.base import RawSpec, RawSummary
from psirf import settings
from psirf.pipeline import check_file, run_provider
from transforms.profile import load_profile

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "lfpse"
V5 = "https://psims-uat.azure-api.net/taxonomy/fhir/StructureDefinition/"
V6 = "https://developer.learn-from-patient-safety-events.nhs.uk/taxonomy/fhir/StructureDefinition/"


def _registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, toml: str) -> Path:
    registry = tmp_path / "providers.toml"
    registry.write_text(toml, encoding="utf-8")
    home = tmp_path / "home"
    monkeypatch.setenv("PSIRF_HOME", str(home))
    monkeypatch.setenv("PSIRF_REGISTRY", str(registry))
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", url)
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
    return home


def _raw_results(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text("SELECT rule_id, field, layer, rows_evaluated, rows_failed FROM dq_rule_result "
                                   "WHERE layer = 'raw'"), conn)


# --- one registry ----------------------------------------------------------------------------------------------

def test_only_the_family_registry_knows_the_source_types() -> None:
    found = subprocess.run(["git", "grep", "-n", "source_type " + "==", "--", "*.py"], cwd=ROOT, capture_output=True,
                           text=True, check=False).stdout.splitlines()
    assert [line for line in found if not line.startswith("connectors/registry.py")] == []
    assert set(families.FAMILIES) == {"csv_drop", "excel_drop", "rest_api", "lfpse_fhir_drop"}
    for name, family in families.FAMILIES.items():
        assert family.name == name


PIPE = """
[[provider]]
ods_code = "RAJ"
name = "A trust sending pipe-delimited exports"
source_type = "pipe_drop"
profile = "datix_web_listing_v1"
[provider.feed]
path = "drops/RAJ"
incidents = "incidents_*.txt"
"""


def test_a_new_family_is_one_folder_and_one_registry_line(tmp_path, monkeypatch, warehouse_url, migrated_engine):
    from tests import pipe_drop
    from tests.test_canonicalise import GOOD

    monkeypatch.setitem(families.FAMILIES, "pipe_drop", pipe_drop.FAMILY)  # the registry line
    home = _registry(tmp_path, monkeypatch, warehouse_url, PIPE)
    drop = home / "drops" / "RAJ"
    drop.mkdir(parents=True)
    good = [{**GOOD, "Datix ID": str(n), "Location (Exact)": "Café ward"} for n in (1001, 1004, 1005)]
    second = {**GOOD, "Datix ID": "1002", "Actual Harm": "??"}
    lines = ["|".join(GOOD), *("|".join(v.replace("\n", " ") for v in r.values()) for r in (*good, second)),
             "1003|too few fields"]
    (drop / "incidents_1.txt").write_text("\r\n".join(lines) + "\r\n", encoding="cp1252")

    [result] = run_provider("RAJ", engine=migrated_engine)

    assert result["status"] == "loaded", result.get("message")
    assert (result["rows_in"], result["loaded"], result["quarantined"], result["duplicates"]) == (5, 3, 2, 0)
    with migrated_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM incident")).scalar() == 3
        assert conn.execute(sa.text("SELECT encoding FROM batch_ledger")).scalar() == "cp1252"
    raw = _raw_results(migrated_engine)
    assert {"raw.column_missing", "batch.empty", "raw.unreadable"} <= set(raw["rule_id"])
    assert raw["rows_failed"].sum() == 0


def test_an_unknown_source_type_is_refused_naming_the_families(tmp_path, monkeypatch) -> None:
    from psirf.errors import ConfigError
    from psirf.registry import load_registry

    _registry(tmp_path, monkeypatch, "duckdb:///x.duckdb", PIPE)
    with pytest.raises(ConfigError, match=r"source_type.*'pipe_drop' is not a source family.*csv_drop"):
        load_registry()


# --- raw checks for every family -------------------------------------------------------------------------------

EXCEL = """
[[provider]]
ods_code = "RDE"
name = "A trust sending workbooks"
source_type = "excel_drop"
profile = "datix_cloud_listing_v1"
[provider.feed]
path = "drops/RDE"
incidents = "IncidentWorkbook_*.xlsx"
[provider.feed.sheets]
incidents = "Incidents"
"""


def test_an_excel_workbook_missing_a_column_fails_its_raw_check_in_the_history(tmp_path, monkeypatch):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    home = _registry(tmp_path, monkeypatch, url, EXCEL)
    from warehouse.db import make_engine
    from warehouse.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    profile = load_profile("datix_cloud_listing_v1", settings.profiles_dir())
    required = list(profile.entity("incidents").required_columns().values())
    dropped = required[-1]
    wb = Workbook()
    sheet = wb.active
    sheet.title = "Incidents"
    sheet.append([c for c in required if c != dropped])
    sheet.append(["x"] * (len(required) - 1))
    (home / "drops" / "RDE").mkdir(parents=True)
    wb.save(home / "drops" / "RDE" / "IncidentWorkbook_1.xlsx")
    try:
        [result] = run_provider("RDE", engine=engine)
        raw = _raw_results(engine)
    finally:
        engine.dispose()
    assert result["status"] == "rejected" and dropped in result["message"]
    failed = raw[raw["rows_failed"] > 0]
    assert failed[["rule_id", "field"]].values.tolist() == [["raw.column_missing", dropped]]
    assert "raw.sheet_missing" in set(raw["rule_id"])  # measured (and passed) for a workbook that has its sheet


def test_rest_records_missing_a_field_are_measured_in_the_raw_layer_and_reported(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
    family = families.FAMILIES["rest_api"]
    profile = load_profile("datix_cloud_listing_v1", settings.profiles_dir())
    required = list(profile.entity("incidents").required_columns().values())
    first = dict.fromkeys(required, "x")
    second = {k: v for k, v in first.items() if k != required[-1]}  # the key is absent, not empty
    landing = tmp_path / "incidents_batch.jsonl"
    landing.write_text("".join(json.dumps(r) + "\n" for r in (first, second)), encoding="utf-8")
    summary = RawSummary(entity="incidents")
    for chunk in family.iter_chunks(landing, None, "incidents", profile, chunk_rows=1):  # type: ignore[arg-type]
        summary.add(chunk)
    results = family.raw_checks(summary, RawSpec("incidents", required, ()))
    absent = results[results["rule_id"] == "api.field_absent"].set_index("field")
    assert absent.loc[required[-1], ["rows_evaluated", "rows_failed"]].tolist() == [2, 1]
    assert absent.drop(index=required[-1])["rows_failed"].sum() == 0
    assert set(results["layer"]) == {"raw"} and "raw.column_missing" in set(results["rule_id"])

    result = check_file(landing, "R1L", entity="incidents", report_dir=tmp_path / "report")
    html = Path(result["report_files"]["html"]).read_text(encoding="utf-8")
    assert "api.field_absent" in html or "do not carry a field" in html


# --- LFPSE: as tolerant as the standard ------------------------------------------------------------------------

def held_out_v5() -> dict[str, Any]:
    """The three-patient v5 event as a held-out export sends it: no meta.lastUpdated, no type, STU3 category AE."""
    resource = json.loads((FIXTURES / "incident_three_patients_v5.json").read_text(encoding="utf-8"))
    resource["id"] = "held-out-1"
    resource["meta"].pop("lastUpdated")
    resource.pop("type")
    resource["category"] = "AE"
    return resource


def as_v6(resource: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(resource).replace(V5, V6).replace('-5"', '-6"'))


@pytest.mark.parametrize("version", [5, 6])
def test_an_event_without_last_updated_or_type_is_read_with_its_fallbacks(tmp_path, version) -> None:
    from connectors.lfpse_fhir_drop.reader import read_fhir

    resource = held_out_v5() if version == 5 else as_v6(held_out_v5())
    path = tmp_path / "event.json"
    path.write_text(json.dumps(resource), encoding="utf-8")
    batch = read_fhir(path)
    assert batch.malformed == [] and len(batch.frame) == 3
    assert set(batch.frame["EventType"]) == {"incident"} and set(batch.frame["TaxonomyVersion"]) == {str(version)}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", batch.frame["LastUpdated"].iloc[0])  # the file's time
    assert sorted((n.rule_id, n.field) for n in batch.notes) == [
        ("fhir.event_type_from_category", "category"), ("fhir.version_time_fallback", "meta.lastUpdated")]

    bundled = tmp_path / "bundle.json"  # in a Bundle, the Bundle's timestamp is the version time
    pae = {**copy.deepcopy(resource), "id": "held-out-2", "category": "PAE"}
    bundled.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                   "timestamp": "2026-10-14T09:30:12+01:00",
                                   "entry": [{"resource": resource}, {"resource": pae}]}), encoding="utf-8")
    rows = read_fhir(bundled).frame
    assert set(rows["LastUpdated"]) == {"2026-10-14T08:30:12"}
    assert rows.groupby("ResourceId")["EventType"].first().to_dict() == {"held-out-1": "incident",
                                                                         "held-out-2": "risk"}


LFPSE = """
[[provider]]
ods_code = "QH8"
name = "GP practices (LFPSE)"
source_type = "lfpse_fhir_drop"
profile = "lfpse_fhir_v5"
[provider.feed]
path = "drops/QH8"
incidents = "lfpse_*"
"""


def test_the_held_out_v5_event_loads_as_one_incident_with_a_row_per_patient(tmp_path, monkeypatch,
                                                                             warehouse_url, migrated_engine):
    home = _registry(tmp_path, monkeypatch, warehouse_url, LFPSE)
    (home / "drops" / "QH8").mkdir(parents=True)
    (home / "drops" / "QH8" / "lfpse_held_out.json").write_text(json.dumps(held_out_v5()), encoding="utf-8")

    [result] = run_provider("QH8", engine=migrated_engine)

    assert result["status"] == "loaded", result.get("message")
    assert (result["rows_in"], result["loaded"], result["quarantined"]) == (3, 3, 0)
    with migrated_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM incident")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM incident_patient")).scalar() == 3
        warned = conn.execute(sa.text("SELECT rule_id, field FROM dq_row_issue ORDER BY rule_id")).all()
    assert ("fhir.event_type_from_category", "category") in [tuple(w) for w in warned]
    assert ("fhir.version_time_fallback", "meta.lastUpdated") in [tuple(w) for w in warned]
    raw = _raw_results(migrated_engine).set_index(["rule_id", "field"])
    assert raw.loc[("fhir.version_time_fallback", "meta.lastUpdated"), "rows_failed"] == 1
    assert raw.loc[("fhir.not_lfpse", "meta.profile"), ["rows_evaluated", "rows_failed"]].tolist() == [3, 0]


def test_a_rejected_lfpse_file_names_the_missing_element_in_its_one_line_result(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
    resource = held_out_v5()
    resource.pop("category")  # now neither type.coding nor category: no event type at all
    path = tmp_path / "lfpse_bad.json"
    path.write_text(json.dumps(resource), encoding="utf-8")

    result = check_file(path, "QH8", report_dir=tmp_path / "report")

    assert result["status"] == "rejected"
    assert "fhir.missing_element (1): event type" in result["message"]


def test_the_product_never_imports_the_demo_or_test_scaffolding() -> None:
    product = ["psirf", "connectors", "transforms", "expectations", "warehouse", "reports", "dags"]
    found = subprocess.run(["git", "grep", "-n", "-E", r"^\s*(from|import) (demo|tests|pytest|aiosmtpd)\b", "--",
                            *product], cwd=ROOT, capture_output=True, text=True, check=False).stdout
    assert found == ""
