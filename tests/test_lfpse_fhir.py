"""LFPSE FHIR connector, its mapping profile and the demo LFPSE feed generator.

The fixture ``incident_three_patients_v5.json`` is a hand-written v5 incident with three patients whose contained
resources and extensions are deliberately out of order; variants are built from it in code.
"""

from __future__ import annotations

import csv
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from connectors.lfpse_fhir_drop.reader import COLUMNS, read_fhir
from demo import lfpse as demo_lfpse
from expectations.rules import RULES
from psirf.errors import BatchRejected

FIXTURES = Path(__file__).parent / "fixtures" / "lfpse"
ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "profiles" / "lfpse_fhir_v5.toml"
V5 = "https://psims-uat.azure-api.net/taxonomy/fhir/StructureDefinition/"
V6 = "https://developer.learn-from-patient-safety-events.nhs.uk/taxonomy/fhir/StructureDefinition/"


def incident() -> dict[str, Any]:
    return json.loads((FIXTURES / "incident_three_patients_v5.json").read_text(encoding="utf-8"))


def event(resource_id: str, *, patients: int = 3, **changes: Any) -> dict[str, Any]:
    resource = incident()
    resource["id"] = resource_id
    kept = [c for c in resource["contained"] if c["resourceType"] != "Patient"]
    resource["contained"] = [c for c in resource["contained"] if c["resourceType"] == "Patient"][:patients] + kept
    resource.update(changes)
    return resource


def ext(resource: dict[str, Any], name: str) -> dict[str, Any]:
    """The LFPSE extension ``name`` (on the event or a contained resource) for editing a test variant."""
    holders = [resource, *resource.get("contained", [])]
    return next(e for h in holders for e in h.get("extension", []) if e["url"].endswith(f"/{name}"))


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def write_ndjson(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def bundle(*resources: dict[str, Any], kind: str = "collection", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources], **extra}


def records(batch: Any) -> list[dict[str, str]]:
    return batch.frame.to_dict("records")


# --- reading ---------------------------------------------------------------------------------------------------

def test_single_resource_gives_one_row_per_patient_in_sequence_order() -> None:
    batch = read_fhir(FIXTURES / "incident_three_patients_v5.json")

    assert batch.columns == COLUMNS and batch.malformed == []
    assert batch.row_numbers == [1, 1, 1]
    rows = records(batch)
    assert [r["PatientSequence"] for r in rows] == ["1", "2", "3"]  # contained order was 2, 1, 3
    assert [r["PhysicalHarm"] for r in rows] == ["4", "2", "5"]
    assert [r["PsychologicalHarm"] for r in rows] == ["3", "2", "4"]
    assert [r["Gender"] for r in rows] == ["1", "2", "3"]  # LFPSE codes as sent; the profile maps them
    assert [r["PatientEthnicity"] for r in rows] == ["11", "31", "52"]
    assert [r["AgeAtTimeOfIncidentDays"] for r in rows] == ["28470", "", "1500"]
    assert rows[1]["AgeBracket"] == "10"
    first = rows[0]
    assert first["ResourceId"] == "9f1c2a7e-0b1d-4c55-9a11-3e5d7c2b0001"
    assert first["ReferenceNumber"] == "W123456" and first["TaxonomyVersion"] == "5"
    assert first["LastUpdated"] == "2026-10-14T08:30:12"  # 09:30:12.347+01:00 as naive UTC seconds
    assert first["EventType"] == "incident" and first["Deleted"] == "false"
    assert (first["EventDate"], first["EventTime"], first["TodaysDate"]) == ("2026-10-13", "08:45", "2026-10-14")
    assert first["Organisation"] == "F81001|RAJ" and first["ServiceArea"] == "17"
    assert (first["LocationWithinService"], first["ResponsibleSpecialty"]) == ("11", "46")
    assert {c: first[c] for c in ("DutyOfCandour", "NeverEvent", "CqcNotify", "HsibNotify", "SeriousIncident",
                                  "LocalAuthoritySafeguarding", "IsAnonymous", "DataSharingOptOut")} == {
        "DutyOfCandour": "y", "NeverEvent": "n", "CqcNotify": "y", "HsibNotify": "n", "SeriousIncident": "n",
        "LocalAuthoritySafeguarding": "n", "IsAnonymous": "n", "DataSharingOptOut": "n"}
    assert first["ClinicalOutcome"].startswith("Bruising") and first["Description"].startswith("Three patients")
    assert str(batch.frame.dtypes.unique()[0]) == "string"


def test_bundle_and_ndjson_read_the_same_rows_with_their_own_row_numbers(tmp_path: Path) -> None:
    a, b = event("event-a", patients=2), event("event-b", patients=0)
    from_bundle = read_fhir(write_json(tmp_path / "b.json", bundle(a, b, kind="searchset")))
    ndjson = tmp_path / "e.ndjson"
    ndjson.write_text(json.dumps(a) + "\n\n" + json.dumps(b) + "\n", encoding="utf-8")  # blank line 2
    from_ndjson = read_fhir(ndjson)

    assert records(from_bundle) == records(from_ndjson)
    assert from_bundle.row_numbers == [1, 1, 2]  # entry index, 1-based
    assert from_ndjson.row_numbers == [1, 1, 3]  # line number
    assert [r["PatientSequence"] for r in records(from_bundle)] == ["1", "2", ""]


def test_event_without_patients_is_one_row_with_empty_patient_columns(tmp_path: Path) -> None:
    risk = event("risk-1", patients=0, type={"coding": [{"code": "risk"}]})
    row = records(read_fhir(write_json(tmp_path / "r.json", risk)))
    assert len(row) == 1 and row[0]["EventType"] == "risk"
    assert all(row[0][c] == "" for c in ("PatientSequence", "PhysicalHarm", "Gender", "PatientEthnicity"))


def test_extensions_are_found_by_url_in_any_order_and_for_taxonomy_6(tmp_path: Path) -> None:
    resource = event("v6-event")
    text = json.dumps(resource).replace(V5, V6).replace("-5\"", "-6\"")
    v6 = json.loads(text)
    v6["extension"].reverse()
    v6["contained"].reverse()
    for holder in [v6, *v6["contained"]]:
        for extension in holder.get("extension", []):
            extension["extension"].reverse()
    v6["event"] = v6.pop("type")  # R4's name for the event type, used by some v6 senders

    got = records(read_fhir(write_json(tmp_path / "v6.json", v6)))
    want = records(read_fhir(write_json(tmp_path / "v5.json", resource)))
    assert [r["TaxonomyVersion"] for r in got] == ["6", "6", "6"]
    for row in (*got, *want):
        row.pop("TaxonomyVersion")
        row.pop("ResourceId")
        row["Organisation"] = "|".join(sorted(row["Organisation"].split("|")))  # repeats keep the order sent
    assert got == want


def test_yes_no_codes_are_kept_as_sent_including_unknown(tmp_path: Path) -> None:
    resource = event("codes", patients=1)
    governance = ext(resource, "adverse-event-governance-5")["extension"]
    governance[:] = [{"url": "DutyOfCandour", "valueCode": "u"}, {"url": "NeverEvent", "valueCode": "y"},
                     {"url": "NeverEventType", "valueCode": "5"}]
    row = records(read_fhir(write_json(tmp_path / "c.json", resource)))[0]
    assert (row["DutyOfCandour"], row["NeverEvent"], row["NeverEventType"], row["CqcNotify"]) == ("u", "y", "5", "")


# --- quarantine ------------------------------------------------------------------------------------------------

def _no_reference(resource: dict[str, Any]) -> None:
    meta = ext(resource, "adverse-event-reference-metadata-5")["extension"]
    meta[:] = [m for m in meta if m["url"] != "ReferenceNumber"]


def _no_sequence(resource: dict[str, Any]) -> None:
    patient = next(c for c in resource["contained"] if c["resourceType"] == "Patient")
    info = patient["extension"][0]["extension"]
    info[:] = [m for m in info if m["url"] != "PatientSequence"]


def _same_sequence(resource: dict[str, Any]) -> None:
    for patient in (c for c in resource["contained"] if c["resourceType"] == "Patient"):
        for item in patient["extension"][0]["extension"]:
            if item["url"] == "PatientSequence":
                item["valueInteger"] = 1


def _mixed(resource: dict[str, Any]) -> None:
    governance = ext(resource, "adverse-event-governance-5")
    governance["url"] = governance["url"].replace("-5", "-6")


def _twice(resource: dict[str, Any]) -> None:
    patient = next(c for c in resource["contained"] if c["resourceType"] == "Patient")
    patient["extension"][0]["extension"].append({"url": "PhysicalHarm", "valueCode": "3"})


BAD_EVENTS = {
    "fhir.not_lfpse": lambda r: (r.pop("extension"), r.pop("contained"), r["meta"].pop("profile")),
    "fhir.unsupported_taxonomy": lambda r: r.update(json.loads(json.dumps(r).replace("-5\"", "-7\""))),
    "fhir.mixed_taxonomy": _mixed,
    "fhir.missing_element": _no_reference,
    "fhir.invalid_value": _same_sequence,
}


@pytest.mark.parametrize("rule_id", sorted(BAD_EVENTS))
def test_each_bad_event_is_quarantined_with_its_rule_and_entry_number(tmp_path: Path, rule_id: str) -> None:
    bad = event("bad-event")
    BAD_EVENTS[rule_id](bad)
    batch = read_fhir(write_json(tmp_path / "b.json", bundle(event("good-1", patients=1), bad,
                                                              event("good-2", patients=1))))

    assert [(n, r) for n, r, _ in batch.malformed] == [(2, rule_id)]
    assert batch.malformed[0][2].startswith("entry 2: AdverseEvent bad-event")
    assert batch.row_numbers == [1, 3] and list(batch.frame["ResourceId"]) == ["good-1", "good-2"]
    assert rule_id in RULES


@pytest.mark.parametrize(("mutate", "rule_id", "mentions"), [
    (_no_sequence, "fhir.missing_element", "PatientSequence"),
    (_twice, "fhir.invalid_value", "PhysicalHarm appears 2 times"),
    (lambda r: r["meta"].update(lastUpdated="2026-10-14T09:30:12"), "fhir.invalid_value", "time zone"),
    (lambda r: r.pop("type"), "fhir.missing_element", "event type"),  # and no STU3 category either
    (lambda r: r.pop("type") and r.update(category="XX"), "fhir.missing_element", "neither AE nor PAE"),
    (lambda r: r.pop("id"), "fhir.missing_element", "without id"),
])
def test_missing_or_malformed_elements_name_the_field(tmp_path: Path, mutate: Any, rule_id: str,
                                                      mentions: str) -> None:
    bad = event("bad-event")
    mutate(bad)
    batch = read_fhir(write_ndjson(tmp_path / "e.ndjson", [event("good", patients=1), bad]))
    assert [(n, r) for n, r, _ in batch.malformed] == [(2, rule_id)]
    assert mentions in batch.malformed[0][2]
    if rule_id == "fhir.missing_element":  # the element is named on its own, and why it is required
        assert batch.malformed[0].field and "required because" in batch.malformed[0][2]


def test_ndjson_invalid_line_and_other_resource_types_are_quarantined_by_line(tmp_path: Path) -> None:
    good = event("good", patients=1)
    lines = [good, json.dumps(good)[:80], {"resourceType": "Patient", "id": "p1", "gender": "female"}, [1, 2], good]
    batch = read_fhir(write_ndjson(tmp_path / "e.ndjson", lines))

    assert [(n, r) for n, r, _ in batch.malformed] == [
        (2, "fhir.invalid_json"), (3, "fhir.not_adverse_event"), (4, "fhir.invalid_json")]
    assert batch.row_numbers == [1, 5]
    assert "Patient" in batch.malformed[1][2]


def test_quarantine_messages_do_not_copy_patient_details(tmp_path: Path) -> None:
    def with_patient_items(resource_id: str, *items: dict[str, Any]) -> dict[str, Any]:
        resource = event(resource_id, patients=1)
        patient = next(c for c in resource["contained"] if c["resourceType"] == "Patient")
        patient["extension"][0]["extension"] += list(items)
        return resource

    outcome = with_patient_items("ae-1", {"url": "ClinicalOutcome", "valueString": "Seen by Dr Jones at home"},
                                 {"url": "ClinicalOutcome", "valueString": "Jones: no harm"})
    age = with_patient_items("ae-2", {"url": "AgeAtTimeOfIncidentDays", "valueInteger": 28470},
                             {"url": "AgeAtTimeOfIncidentDays", "valueString": "28471"})
    broken = json.dumps(outcome)[:-40]
    batch = read_fhir(write_ndjson(tmp_path / "e.ndjson", [outcome, age, broken]))
    text = " ".join(p for _, _, p in batch.malformed)
    assert [r for _, r, _ in batch.malformed] == ["fhir.invalid_value", "fhir.invalid_value", "fhir.invalid_json"]
    assert "ClinicalOutcome appears 2 times" in text and "AgeAtTimeOfIncidentDays appears 2 times" in text
    assert "Jones" not in text and "2847" not in text and "Three patients" not in text


# --- updates and deletions -------------------------------------------------------------------------------------

def test_transaction_bundle_carries_updates_and_deletions(tmp_path: Path) -> None:
    update = event("ae-1", patients=1)
    changes = {"resourceType": "Bundle", "type": "transaction", "timestamp": "2026-10-31T07:00:00+01:00",
               "entry": [{"resource": update, "request": {"method": "PUT", "url": "AdverseEvent/ae-1"}},
                         {"request": {"method": "DELETE", "url": "AdverseEvent/ae-2"}},
                         {"request": {"method": "DELETE", "url": "Patient/p-1"}},
                         {"request": {"method": "DELETE", "url": "AdverseEvent?identifier=W1"}},
                         {"resource": update, "request": {"method": "PATCH", "url": "AdverseEvent/ae-1"}}]}
    batch = read_fhir(write_json(tmp_path / "changes.json", changes))

    rows = records(batch)
    assert [(r["ResourceId"], r["Deleted"]) for r in rows] == [("ae-1", "false"), ("ae-2", "true")]
    deletion = rows[1]
    assert deletion["LastUpdated"] == "2026-10-31T06:00:00"  # the Bundle's timestamp, as naive UTC
    assert all(v == "" for k, v in deletion.items() if k not in ("ResourceId", "LastUpdated", "Deleted"))
    assert batch.row_numbers == [1, 2]
    assert [(n, r) for n, r, _ in batch.malformed] == [
        (3, "fhir.not_adverse_event"), (4, "fhir.unsupported_entry"), (5, "fhir.unsupported_entry")]


def test_bulk_data_deletion_bundle_on_an_ndjson_line(tmp_path: Path) -> None:
    deleted = {"resourceType": "Bundle", "type": "transaction", "meta": {"lastUpdated": "2026-10-30T12:00:00Z"},
               "entry": [{"request": {"method": "DELETE", "url": "https://example.nhs.uk/fhir/AdverseEvent/ae-9"}}]}
    undated = {**deleted, "meta": {}}
    batch = read_fhir(write_ndjson(tmp_path / "deleted.ndjson", [deleted, undated]))
    assert [(r["ResourceId"], r["Deleted"], r["LastUpdated"]) for r in records(batch)] == [
        ("ae-9", "true", "2026-10-30T12:00:00")]
    assert [(n, r) for n, r, _ in batch.malformed] == [(2, "fhir.missing_element")]


# --- whole-file problems ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "problem"), [
    (b"", "empty"),
    (b"  \n\n", "empty"),
    (b"Reference,Harm\nW1,5\n", "neither JSON nor NDJSON"),
    (b"[1, 2]", "not a FHIR resource"),
    (json.dumps({"resourceType": "Bundle", "type": "document", "entry": []}).encode(), "type 'document'"),
    (b'{"resourceType": "AdverseEvent", "description": "caf\xe9"}', "not UTF-8"),
])
def test_a_file_that_is_not_fhir_json_is_rejected_naming_the_file(tmp_path: Path, content: bytes,
                                                                   problem: str) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(content)
    with pytest.raises(BatchRejected) as caught:
        read_fhir(path)
    assert str(path) in str(caught.value) and problem in str(caught.value)


# --- mapping profile -------------------------------------------------------------------------------------------

def _codes(system_id: str) -> set[str]:
    with (ROOT / "config" / "reference" / "lfpse_v5_code_systems.csv").open(encoding="utf-8") as fh:
        return {r["code"] for r in csv.DictReader(fh) if r["code_system_id"] == system_id}


def test_profile_maps_reader_columns_and_every_lfpse_code() -> None:
    profile = tomllib.loads(PROFILE.read_text(encoding="utf-8"))
    incidents = profile["incidents"]
    assert set(incidents["columns"].values()) <= set(COLUMNS)
    codes = incidents["codes"]
    for fld, system in [("physical_harm", "level-of-physical-harm-5"),
                        ("psychological_harm", "level-of-psychological-harm-5"), ("gender", "gender-5"),
                        ("ethnicity", "ethnicity-5"), ("age_bracket", "age-brackets-5"),
                        ("never_event_type", "never-event-type-5"),
                        ("strength_of_association", "strength-of-association-5")]:
        assert set(codes[fld]) == _codes(system), fld
    assert codes["physical_harm"] == {c: c for c in "54321"}
    assert codes["event_type"] == {"incident": "incident", "outcome": "outcome", "risk": "risk",
                                   "goodCare": "good_care"}
    with (ROOT / "config" / "reference" / "nhs_dd_person_stated_gender.csv").open(encoding="utf-8") as fh:
        assert codes["gender"] == {r["lfpse_v5_gender_code"]: r["code"] for r in csv.DictReader(fh)}
    with (ROOT / "config" / "reference" / "nhs_dd_ethnic_category.csv").open(encoding="utf-8") as fh:
        assert codes["ethnicity"] == {r["lfpse_v5_code"]: r["code"] for r in csv.DictReader(fh) if r["lfpse_v5_code"]}
    assert profile["true_values"] == ["y", "true"] and profile["false_values"] == ["n", "false"]


def test_profile_loads_once_the_lfpse_canonical_fields_exist() -> None:
    from transforms.fields import INCIDENT_FIELDS
    from transforms.profile import load_profile

    wanted = set(tomllib.loads(PROFILE.read_text(encoding="utf-8"))["incidents"]["columns"])
    if not wanted <= set(INCIDENT_FIELDS):
        pytest.skip(f"canonical fields not added yet: {sorted(wanted - set(INCIDENT_FIELDS))}")
    profile = load_profile("lfpse_fhir_v5", PROFILE.parent)
    assert profile.entity("incidents").columns["source_record_id"] == "ResourceId"


# --- demo generator --------------------------------------------------------------------------------------------

def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("lfpse")
    return folder, demo_lfpse.generate_lfpse_feeds(folder, events_per_practice=12)


def test_generator_is_byte_identical_for_the_same_seed(tmp_path: Path, feeds: tuple[Path, dict[str, Any]]) -> None:
    folder, manifest = feeds
    again = demo_lfpse.generate_lfpse_feeds(tmp_path / "again", events_per_practice=12)
    assert again == manifest and _digests(tmp_path / "again") == _digests(folder)
    other = demo_lfpse.generate_lfpse_feeds(tmp_path / "other", seed=1, events_per_practice=12)
    assert other["updated_resource_ids"] != manifest["updated_resource_ids"]
    assert json.loads((folder / demo_lfpse.MANIFEST_FILE).read_text(encoding="utf-8")) == manifest


def test_generated_files_match_their_manifest(feeds: tuple[Path, dict[str, Any]]) -> None:
    folder, manifest = feeds
    assert sorted(p.name for p in folder.glob("lfpse_*")) == sorted(manifest["files"])
    for name, expected in manifest["files"].items():
        batch = read_fhir(folder / name)
        frame = batch.frame
        malformed: dict[str, int] = {}
        for _, rule_id, _ in batch.malformed:
            malformed[rule_id] = malformed.get(rule_id, 0) + 1
        assert malformed == expected["malformed"], name
        assert len(frame) == expected["rows"] and len(frame) + len(batch.malformed) == expected["rows_in"], name
        live = frame[frame["Deleted"] == "false"]
        assert live["ResourceId"].nunique() == expected["events"], name
        assert (frame["PatientSequence"] != "").sum() == expected["patients"], name
        assert (frame["Deleted"] == "true").sum() == expected["deletions"], name
        assert live.drop_duplicates("ResourceId")["EventType"].value_counts().to_dict() == expected["event_types"]
    assert sum(manifest["events_by_practice"].values()) == 12 * len(demo_lfpse.DEFAULT_PRACTICES)
    bundle_rows = read_fhir(folder / demo_lfpse.BUNDLE_FILE).frame
    unknown = bundle_rows[bundle_rows["ResourceId"] == manifest["unknown_code_resource_id"]]
    assert list(unknown["PhysicalHarm"]) == ["6"]  # not an LFPSE harm level: the transform quarantines it


def test_generated_events_cover_types_governance_and_three_patients(feeds: tuple[Path, dict[str, Any]]) -> None:
    folder, manifest = feeds
    rows = read_fhir(folder / demo_lfpse.NDJSON_FILE).frame
    rows = pd.concat([rows, read_fhir(folder / demo_lfpse.BUNDLE_FILE).frame], ignore_index=True)
    assert set(rows["EventType"]) == {"incident", "outcome", "risk", "goodCare"}
    assert set(rows.loc[rows["EventType"] != "incident", "DutyOfCandour"]) == {""}  # only incidents have them
    assert set(rows.loc[rows["EventType"] == "incident", "DutyOfCandour"]) == {"y", "n"}
    assert set(rows["TaxonomyVersion"]) == {"5", "6"}
    assert rows["Organisation"].map(lambda orgs: bool(set(orgs.split("|")) & set(manifest["practices"]))).all()
    three = manifest["three_patient_event"]
    harm = rows.loc[rows["ResourceId"] == three["resource_id"], ["PatientSequence", "PhysicalHarm"]]
    assert list(harm["PatientSequence"]) == ["1", "2", "3"] and list(harm["PhysicalHarm"]) == three["physical_harm"]


def test_changes_are_newer_with_changed_harm_and_the_replay_is_older(tmp_path: Path,
                                                                     feeds: tuple[Path, dict[str, Any]]) -> None:
    folder, manifest = feeds
    before = read_fhir(folder / demo_lfpse.NDJSON_FILE).frame
    changes = read_fhir(folder / demo_lfpse.CHANGES_FILE).frame
    entry = demo_lfpse.write_older_replay(tmp_path, events_per_practice=12)
    replay = read_fhir(tmp_path / demo_lfpse.REPLAY_FILE).frame

    assert demo_lfpse.CHANGES_FILE < demo_lfpse.REPLAY_FILE  # a folder glob sees the replay last
    assert entry["rows"] == len(replay) and set(replay["Deleted"]) == {"false"}
    for resource_id in manifest["updated_resource_ids"]:
        old = before[before["ResourceId"] == resource_id]
        new = changes[changes["ResourceId"] == resource_id]
        assert new["LastUpdated"].iloc[0] > old["LastUpdated"].iloc[0]
        assert new["PhysicalHarm"].iloc[0] != old["PhysicalHarm"].iloc[0]
        assert list(replay.loc[replay["ResourceId"] == resource_id, "PhysicalHarm"]) == list(old["PhysicalHarm"])
        assert replay.loc[replay["ResourceId"] == resource_id, "LastUpdated"].max() < new["LastUpdated"].min()
    deleted = changes[changes["Deleted"] == "true"]
    assert list(deleted["ResourceId"]) == manifest["deleted_resource_ids"]
    assert (replay.loc[replay["ResourceId"].isin(manifest["deleted_resource_ids"]), "LastUpdated"]
            < deleted["LastUpdated"].iloc[0]).all()
    assert changes["LastUpdated"].max() <= f"{demo_lfpse.ANCHOR_DATE}T23:59:59"
