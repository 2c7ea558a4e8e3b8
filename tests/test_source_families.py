"""Excel drops, LFPSE tabular exports and schema drift, through the real readers and pipeline."""

import csv
import datetime as dt
import json

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from connectors.excel_drop.reader import ExcelSheetConfig, read_excel
from psirf.errors import BatchRejected
from psirf.pipeline import run_provider
from transforms.nhs_number import classify


def test_excel_cells_come_back_as_the_export_would_have_written_them(tmp_path):
    wb = Workbook()
    sheet = wb.active
    sheet.title = "Incidents"
    sheet.append(["recordid", "inc_dincident", "inc_dreported", "con_nhsno", "note"])
    sheet.append(["000123", dt.datetime(2025, 4, 3), 45755, 9434765919, "ok"])  # text id, date cell, serial date
    sheet.append(["124", "31/02/2026", None, 9.43e9, None])
    sheet["D3"].number_format = "0.00E+00"  # how Excel shows a long number it has mangled
    sheet.append([None, None, None, None, None])  # blank row: not a record
    sheet.append([125, dt.datetime(2025, 4, 5), dt.datetime(2025, 4, 6), "943 476 5919", 12.5])
    other = wb.create_sheet("Actions")
    other.append(["act_id"])
    path = tmp_path / "drop.xlsx"
    wb.save(path)

    batch = read_excel(path, ExcelSheetConfig(sheet="Incidents", date_formats={"inc_dincident": "%d/%m/%Y",
                                                                                "inc_dreported": "%d/%m/%Y"}))

    assert batch.encoding == "xlsx" and batch.source_file.endswith("drop.xlsx#Incidents")
    assert batch.row_numbers == [2, 3, 5]
    assert batch.frame.to_dict("records") == [
        {"recordid": "000123", "inc_dincident": "03/04/2025", "inc_dreported": "08/04/2025", "con_nhsno": "9434765919",
         "note": "ok"},
        {"recordid": "124", "inc_dincident": "31/02/2026", "inc_dreported": "", "con_nhsno": "9.43E+09", "note": ""},
        {"recordid": "125", "inc_dincident": "05/04/2025", "inc_dreported": "06/04/2025", "con_nhsno": "943 476 5919",
         "note": "12.5"},
    ]
    # the mangled NHS number is rejected, never "repaired"
    assert classify(batch.frame.loc[1, "con_nhsno"]) == (None, "nhs_number.scientific_notation")
    with pytest.raises(BatchRejected, match="has no sheet 'Nope'"):
        read_excel(path, ExcelSheetConfig(sheet="Nope"))
    (tmp_path / "fake.xlsx").write_text("not a workbook")
    with pytest.raises(BatchRejected, match=r"fake\.xlsx.*not a readable \.xlsx"):
        read_excel(tmp_path / "fake.xlsx", ExcelSheetConfig(sheet=None))


def _registry(tmp_path, monkeypatch, warehouse_url, entry: str):
    registry = tmp_path / "providers.toml"
    registry.write_text(entry, encoding="utf-8")
    home = tmp_path / "home"
    monkeypatch.setenv("PSIRF_HOME", str(home))
    monkeypatch.setenv("PSIRF_REGISTRY", str(registry))
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")
    return home


LFPSE_TABULAR = """
[[provider]]
ods_code = "QJG"
name = "LFPSE tabular export"
source_type = "csv_drop"
profile = "lfpse_tabular_v5"
[provider.feed]
path = "drops/QJG"
incidents = "lfpse_*.csv"
"""


def test_lfpse_tabular_export_by_column_name(tmp_path, monkeypatch, warehouse_url, migrated_engine):
    home = _registry(tmp_path, monkeypatch, warehouse_url, LFPSE_TABULAR)
    header = ["Record ID", "Reference number", "Taxonomy version", "Last updated", "Deleted", "Event type",
              "Event date", "Event time", "Date reported", "Organisation code", "Service area",
              "Location within service", "Responsible specialty", "What happened", "Duty of Candour", "Never Event",
              "Never Event type", "Serious Incident", "CQC notified", "MNSI/HSIB notified", "Anonymous",
              "Data sharing opt-out", "Patient number", "Physical harm", "Psychological harm",
              "Age at incident (days)", "Age bracket", "Gender", "Ethnicity", "Strength of association",
              "Clinical outcome"]
    event = {"Record ID": "ev-1", "Reference number": "W1", "Taxonomy version": "5",
             "Last updated": "01/10/2026 10:00:00",
             "Deleted": "n", "Event type": "incident", "Event date": "20/09/2026", "Date reported": "21/09/2026",
             "Organisation code": "F81001", "Duty of Candour": "y", "Never Event": "n", "Data sharing opt-out": "n",
             "Anonymous": "u"}
    patients = [{"Patient number": "1", "Physical harm": "4", "Psychological harm": "4", "Gender": "1",
                 "Ethnicity": "11", "Age at incident (days)": "29000"},
                {"Patient number": "2", "Physical harm": "2", "Psychological harm": "3", "Gender": "2",
                 "Ethnicity": "31", "Age at incident (days)": "400"},
                {"Patient number": "3", "Physical harm": "5", "Psychological harm": "2", "Gender": "3",
                 "Ethnicity": "52", "Age at incident (days)": ""}]
    good_care = {"Record ID": "ev-2", "Reference number": "W2", "Taxonomy version": "5",
                 "Last updated": "01/10/2026 11:00:00", "Deleted": "n", "Event type": "goodCare",
                 "Event date": "22/09/2026", "Data sharing opt-out": "y", "Patient number": "1", "Gender": "2"}
    drop = home / "drops" / "QJG"
    drop.mkdir(parents=True)
    with (drop / "lfpse_20261001.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, header, restval="")
        writer.writeheader()
        writer.writerows([{**event, **p} for p in patients] + [good_care])

    [result] = run_provider("QJG", engine=migrated_engine)

    assert result["status"] == "loaded", result.get("message")
    assert (result["rows_in"], result["loaded"], result["quarantined"], result["inserted"]) == (4, 4, 0, 2)
    with migrated_engine.connect() as conn:
        incidents = dict(conn.execute(sa.text("SELECT source_record_id, physical_harm_code FROM incident")).all())
        rows = conn.execute(sa.text(
            "SELECT i.source_record_id, p.patient_sequence, p.physical_harm_code, p.gender_code, p.gender_source, "
            "p.ethnicity_code, p.age_at_incident_years, p.age_bracket_code FROM incident_patient p "
            "JOIN incident i ON i.incident_key = p.incident_key ORDER BY 1, 2")).all()
    assert incidents == {"ev-1": "2", "ev-2": None}  # worst of the three; good care carries no harm
    assert [tuple(r) for r in rows] == [
        ("ev-1", 1, "4", "2", "1", "A", 79, "11"),
        ("ev-1", 2, "2", "1", "2", "H", 1, "4"),
        ("ev-1", 3, "5", "X", "3", "99", None, None),
        ("ev-2", 1, None, None, None, None, None, None),  # DataSharingOptOut: details withheld
    ]


SCHEMA_DRIFT = """
[[provider]]
ods_code = "RAJ"
name = "Mid and South Essex"
source_type = "csv_drop"
profile = "datix_web_listing_v1"
[provider.feed]
path = "drops/RAJ"
incidents = "incidents_*.csv"
"""


def test_unknown_columns_are_kept_redacted_and_reported(tmp_path, monkeypatch, warehouse_url, migrated_engine):
    from tests.test_canonicalise import GOOD

    home = _registry(tmp_path, monkeypatch, warehouse_url, SCHEMA_DRIFT)
    drop = home / "drops" / "RAJ"
    drop.mkdir(parents=True)
    rows = [{**GOOD, "Root Cause Theme": "Handover; call 01245 123456", "Next of Kin Phone": "07700 900123"}]
    with (drop / "incidents_1.csv").open("w", newline="", encoding="cp1252") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    [result] = run_provider("RAJ", engine=migrated_engine)

    assert result["status"] == "loaded" and result["loaded"] == 1
    with migrated_engine.connect() as conn:
        drift = conn.execute(sa.text("SELECT schema_drift FROM batch_ledger")).scalar()
        extra = conn.execute(sa.text("SELECT extra_attributes FROM incident")).scalar()
    assert "kept in extra_attributes: Root Cause Theme" in drift
    assert "dropped as possible identifiers: Next of Kin Phone" in drift
    assert json.loads(extra) == {"Root Cause Theme": "Handover; call [PHONE REDACTED]"}
