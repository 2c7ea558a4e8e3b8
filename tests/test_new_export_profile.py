"""A Datix-style export that no other test uses, loaded by writing only a mapping profile and a registry entry.

The layout has the quirks of domain brief §4: its own column names, dd/mm/yyyy dates, HH:MM and HHMM times,
labels with stray spaces and the "(Old Code, deactivated …)" prefix, quoted multi-line narratives, a placeholder
date, a record rejected in the source, and Windows-1252 encoding.
"""

import sqlalchemy as sa

from psirf.pipeline import run_provider

PROFILE = r'''
name = "acme_rms_listing_v1"
source_system = "acme_rms_csv"
date_format = "%d/%m/%Y"
datetime_format = "%d/%m/%Y %H:%M"
label_prefix_patterns = ['^\(Old Code, deactivated [0-9.]+\):\s*']
true_values = ["Y"]
false_values = ["N"]

[incidents]
rejected_when = { field = "approval_status", values = ["Rejected"] }

[incidents.columns]
source_record_id = "Incident Number"
occurred_date = "Date of Incident"
occurred_time = "Time of Incident"
reported_date = "Reported On"
category = "Incident Type"
physical_harm = "Harm Grade"
description = "Description"
duty_of_candour = "DoC?"
approval_status = "Status"
nhs_number = "NHS No"
date_of_birth = "DOB"

[incidents.codes.physical_harm]
"No Harm" = "5"
"Minor" = "4"
"Moderate" = "3"
"Major" = "2"
"Catastrophic" = "1"

[incidents.codes.category]
"Falls" = "patient_accident"
"Medicines" = "medication"
'''

REGISTRY = '''
[[provider]]
ods_code = "RGQ"
name = "A provider no test has seen"
source_type = "csv_drop"
profile = "acme_rms_listing_v1"
[provider.feed]
path = "drops/RGQ"
incidents = "export_*.csv"
'''

EXPORT = (
    'Incident Number,Date of Incident,Time of Incident,Reported On,Incident Type,Harm Grade,Description,DoC?,'
    'Status,NHS No,DOB,Patient Surname\r\n'
    'A-1,03/04/2025,14:05,04/04/2025,Falls,No  Harm,"Found on floor.\r\nNo injury.",N,Approved,943 476 5919,'
    '01/02/1950,Smith\r\n'
    'A-2,7/4/2025,0905,08/04/2025,  Medicines ,"(Old Code, deactivated 31.03.23): Moderate","Dose missed – ward '
    '“B”",Y,Approved,,,Jones\r\n'
    'A-3,01/01/1900,09:00,02/01/2025,Falls,Minor,Placeholder date,N,Approved,,,Brown\r\n'
    'A-4,05/04/2025,10:00,05/04/2025,Falls,Minor,Duplicate entry,N,Rejected,,,Green\r\n'
)


def test_unseen_export_loads_with_only_a_profile(tmp_path, monkeypatch, warehouse_url, migrated_engine):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "acme_rms_listing_v1.toml").write_text(PROFILE, encoding="utf-8")
    registry = tmp_path / "providers.toml"
    registry.write_text(REGISTRY, encoding="utf-8")
    home = tmp_path / "home"
    drop = home / "drops" / "RGQ"
    drop.mkdir(parents=True)
    (drop / "export_20261101.csv").write_bytes(EXPORT.encode("cp1252"))
    monkeypatch.setenv("PSIRF_HOME", str(home))
    monkeypatch.setenv("PSIRF_PROFILES_DIR", str(profiles))
    monkeypatch.setenv("PSIRF_REGISTRY", str(registry))
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", "TEST-ONLY-key-for-pseudonymisation-tests-0123")

    [result] = run_provider("RGQ", engine=migrated_engine)
    assert result["status"] == "loaded", result.get("message")

    assert (result["status"], result["rows_in"], result["loaded"], result["quarantined"]) == ("loaded", 4, 2, 2)
    with migrated_engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT source_record_id, occurred_date, occurred_time, category_code, physical_harm_code, "
            "physical_harm_source, duty_of_candour, description, source_system FROM incident ORDER BY 1")).all()
        rules = conn.execute(sa.text("SELECT source_record_id, rule_id, field FROM quarantine ORDER BY 1")).all()
        ledger_encoding = conn.execute(sa.text("SELECT encoding FROM batch_ledger")).scalar()
    assert [(r[0], str(r[1]), r[2], r[3], r[4], r[6]) for r in rows] == [
        ("A-1", "2025-04-03", "14:05", "patient_accident", "5", False),
        ("A-2", "2025-04-07", "09:05", "medication", "3", True),
    ]
    assert rows[1].physical_harm_source == "(Old Code, deactivated 31.03.23): Moderate"
    assert rows[0].description == "Found on floor.\nNo injury." and rows[1].description == "Dose missed – ward “B”"
    assert rows[0].source_system == "acme_rms_csv"
    assert [tuple(r) for r in rules] == [("A-3", "date.placeholder", "Date of Incident"),
                                         ("A-4", "record.rejected_in_source", "Status")]
    assert ledger_encoding == "cp1252"
