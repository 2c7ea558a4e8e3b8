"""Mapping a raw export to the canonical model, and validating it (transform + GX suite), without a warehouse."""

import csv
import datetime as dt
import re

import pandas as pd
import pytest

from connectors.csv_drop.reader import read_csv
from expectations.validate import validate
from psirf import settings
from psirf.errors import BatchRejected
from transforms.canonicalise import BatchContext, canonicalise
from transforms.nhs_number import is_valid
from transforms.profile import load_profile

EXTRACTED = dt.datetime(2026, 11, 1)
KEY = b"test-key-" + b"x" * 32
GOOD = {
    "Datix ID": "1001", "Ref": "W1", "Incident Date": "03/04/2025", "Time": "0930", "Reported Date": "04/04/2025",
    "Category": "Medication", "Sub Category": "Wrong dose", "Actual Harm": "None (No harm)", "Result": "No Harm",
    "Division": "Medicine", "Speciality": "Cardiology", "Location (Type)": "Ward", "Location (Exact)": "Ward 5",
    "What Happened?": "Wrong dose given.\nPatient NHS no 943 476 5919, lives CM1 1AA, tel 01245 123456.",
    "Action Taken (at the time of the incident)": "Reviewed", "Lessons Learned": "", "Duty of Candour": "No",
    "Approval Status": "FA", "Last Updated": "05/04/2025 10:00", "NHS Number": "943 476 5919",
    "Date of Birth": "01/02/1950", "Gender": "Male", "Ethnicity": "White - British",
    "Patient Name": "John Smith", "Address": "1 High Street, Chelmsford", "Postcode": "CM1 1AA",
}


def write(tmp_path, rows, name="incidents_1.csv", drop=()):
    path = tmp_path / name
    columns = [c for c in GOOD if c not in drop]
    with path.open("w", newline="", encoding="cp1252") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path



def run(path, max_invalid_share=0.9):
    profile = load_profile("datix_web_listing_v1", settings.profiles_dir())
    raw = read_csv(path)
    canonical = canonicalise(raw, profile, "incidents", BatchContext("RAJ", "batch-1", EXTRACTED, KEY))
    return validate(canonical, EXTRACTED, max_invalid_share, str(path))


def test_valid_row_maps_to_canonical_values(tmp_path):
    result = run(write(tmp_path, [GOOD]))
    assert (result.rows_in, result.quarantined, result.duplicates, result.loadable) == (1, 0, 0, 1)
    inc = result.tables["incidents"].iloc[0]
    assert inc["occurred_date"] == pd.Timestamp(2025, 4, 3)  # 03/04 is 3 April, never 4 March
    assert inc["occurred_time"] == "09:30"
    assert inc["physical_harm_code"] == "5" and inc["physical_harm_source"] == "None (No harm)"
    assert inc["category_code"] == "medication" and inc["category_source"] == "Medication"
    assert inc["provider_ods"] == "RAJ" and inc["source_system"] == "datix_web_listing_csv"
    assert inc["batch_id"] == "batch-1" and len(inc["row_hash"]) == 64
    assert "943 476 5919" not in inc["description"] and "CM1 1AA" not in inc["description"]
    assert "01245 123456" not in inc["description"]
    pat = result.tables["incident_patients"].iloc[0]
    assert pat["age_at_incident_years"] == 75 and pat["age_bracket_code"] == "11"
    assert pat["gender_code"] == "1" and pat["ethnicity_code"] == "A"
    assert re.fullmatch(r"[0-9a-f]{64}", pat["patient_pseudo_id"])


def test_optional_columns_are_read_when_present_and_not_supplied_when_absent(tmp_path):
    """An export without the Never Event column loads with the flag NULL ("not supplied", never "no"); one with
    it carries the flag and the notification date."""
    without = run(write(tmp_path, [GOOD])).tables["incidents"].iloc[0]
    assert pd.isna(without["never_event"]) and pd.isna(without["duty_of_candour_notified_date"])
    path = tmp_path / "with.csv"
    row = {**GOOD, "Never Event": "Yes", "Duty of Candour": "Yes", "Duty of Candour Notified": "10/04/2025"}
    with path.open("w", newline="", encoding="cp1252") as fh:
        writer = csv.DictWriter(fh, [*GOOD, "Never Event", "Duty of Candour Notified"])
        writer.writeheader()
        writer.writerow(row)
    result = run(path)
    assert result.quarantined == 0
    inc = result.tables["incidents"].iloc[0]
    assert bool(inc["never_event"]) is True and inc["duty_of_candour_notified_date"] == pd.Timestamp(2025, 4, 10)
    assert pd.isna(inc["extra_attributes"]) or "Never Event" not in inc["extra_attributes"]  # mapped, not drift


def test_no_identifier_leaves_the_transform(tmp_path):
    result = run(write(tmp_path, [GOOD, {**GOOD, "Datix ID": "1002"}]))
    for frame in [*result.tables.values(), result.issues]:
        assert not {"nhs_number", "date_of_birth", "Patient Name", "Address", "Postcode"} & set(frame.columns)
        text = frame.astype("string").to_csv()
        assert "John Smith" not in text and "High Street" not in text and "CM1 1AA" not in text
        assert "01/02/1950" not in text and "1950-02-01" not in text
        assert not [m for m in re.findall(r"\d{10}", text.replace(" ", "")) if is_valid(m)]


def test_labels_normalised_and_deactivated_prefix_removed(tmp_path):
    odd = {**GOOD, "Actual Harm": "  (Old Code, deactivated 31.03.23): Low  (Minimal harm: required extra "
                                  "observation or minor treatment) ", "Category": " medication "}
    inc = run(write(tmp_path, [odd])).tables["incidents"].iloc[0]
    assert inc["physical_harm_code"] == "4" and inc["category_code"] == "medication"
    assert inc["physical_harm_source"].startswith("(Old Code, deactivated 31.03.23)")


@pytest.mark.parametrize(
    ("changes", "rule", "field"),
    [
        ({"Incident Date": "31/02/2025"}, "date.unparseable", "Incident Date"),
        ({"Incident Date": "2025-04-03"}, "date.unparseable", "Incident Date"),
        ({"Incident Date": "01/01/1900"}, "date.placeholder", "Incident Date"),
        ({"Incident Date": "01/01/2031", "Reported Date": ""}, "date.in_future", "Incident Date"),
        ({"Reported Date": "01/04/2025"}, "date.order", "Reported Date"),
        ({"Incident Date": ""}, "required.missing", "Incident Date"),
        ({"Datix ID": " "}, "required.missing", "Datix ID"),
        ({"Actual Harm": "Moderate-ish"}, "code.unknown", "Actual Harm"),
        ({"Gender": "Robot"}, "code.unknown", "Gender"),
        ({"Time": "25:00"}, "time.unparseable", "Time"),
        ({"Duty of Candour": "Maybe"}, "bool.unparseable", "Duty of Candour"),
        ({"NHS Number": "9434765918"}, "nhs_number.invalid_check_digit", "NHS Number"),
        ({"NHS Number": "9.43E+09"}, "nhs_number.scientific_notation", "NHS Number"),
        ({"Date of Birth": "01/01/2026"}, "dob.after_incident", "Date of Birth"),
        ({"Approval Status": "REJECT"}, "record.rejected_in_source", "Approval Status"),
    ],
)
def test_each_defect_quarantines_its_row_with_rule_and_field(tmp_path, changes, rule, field):
    result = run(write(tmp_path, [GOOD, {**GOOD, "Datix ID": "2002", **changes}]))
    assert result.quarantined == 1 and result.loadable == 1
    issue = result.issues.iloc[0]
    assert len(result.issues) == 1, result.issues[["rule_id", "field"]].to_dict("records")
    assert (issue["rule_id"], issue["field"], int(issue["source_row_number"])) == (rule, field, 3)
    assert issue["message"] and issue["expected"]
    if field in ("NHS Number", "Date of Birth"):
        assert changes[field] not in str(issue["found"])


def test_exact_duplicates_counted_and_conflicting_ones_quarantined(tmp_path):
    rows = [GOOD, GOOD, {**GOOD, "Datix ID": "7"}, {**GOOD, "Datix ID": "7", "Actual Harm": "None (No harm)",
                                                    "Result": "changed"}]
    result = run(write(tmp_path, rows))
    assert (result.rows_in, result.duplicates, result.quarantined, result.loadable) == (4, 1, 2, 1)
    assert set(result.issues["rule_id"]) == {"record.conflicting_duplicate"}


def test_missing_required_column_rejects_batch_naming_it(tmp_path):
    path = write(tmp_path, [GOOD], drop=("Actual Harm",))
    with pytest.raises(BatchRejected, match=r"incidents_1\.csv.*'Actual Harm' \(for physical_harm\)"):
        run(path)


def test_header_only_file_rejected(tmp_path):
    with pytest.raises(BatchRejected, match="no data rows"):
        run(write(tmp_path, []))


def test_too_many_invalid_rows_rejects_batch(tmp_path):
    rows = [GOOD] + [{**GOOD, "Datix ID": str(i), "Actual Harm": "??"} for i in range(3)]
    with pytest.raises(BatchRejected, match=r"3 of 4 rows \(75%\) are invalid.*code.unknown \(3\)"):
        run(write(tmp_path, rows), max_invalid_share=0.5)
