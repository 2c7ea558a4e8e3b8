"""Deterministic demo LFPSE FHIR exports for GP practices, with planted defects, an update and a deletion.

Why: GP practices report straight into LFPSE, so their records reach the ICB as FHIR AdverseEvents, not as Datix
listings. The pipeline's LFPSE path has to be demonstrated and tested end to end without real data, and the tests
need exact expectations: rows in (patient-level), quarantined per rule, events, patients, updates and deletions.
Output is byte-identical for the same arguments (fixed seed, fixed anchor date, never ``today()``).

Files written (names sort in arrival order, so a folder glob sees the export before the changes):

* ``lfpse_20261024_export.ndjson``      NDJSON, the earlier half of the events, plus an invalid JSON line, a
                                          Patient resource and an event of an unsupported taxonomy version;
* ``lfpse_20261024_export_bundle.json`` collection Bundle, the later half, plus a non-LFPSE AdverseEvent, an event
                                          whose patient has no PatientSequence and one with an unknown harm code;
* ``lfpse_20261031_changes.json``       transaction Bundle: newer versions of earlier events (changed harm) and a
                                          DELETE of another event;
* ``manifest_lfpse.json``               the expected counts (not matched by ``lfpse_*`` globs).

``write_older_replay`` writes, on request, a file with the *original* versions of the changed and deleted events
that sorts after the changes file: loading it must not roll the records back.

Run ``python -m demo.lfpse OUT_DIR``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ANCHOR_DATE = dt.date(2026, 10, 31)  # nothing is dated after it
DEFAULT_SEED = 20261127
DEFAULT_PRACTICES = ("F81001", "F81002", "F81003")  # fictional demo practices (GP codes look like A99999)
WINDOW_START = dt.date(2025, 11, 1)
WINDOW_END = dt.date(2026, 10, 20)  # events occurred in the window; the export was taken on EXPORT_DATE
EXPORT_DATE = dt.date(2026, 10, 24)
CHANGES_TIME = dt.datetime(2026, 10, 31, 6, 0, 0)  # UTC: when LFPSE produced the changes file

NDJSON_FILE = f"lfpse_{EXPORT_DATE:%Y%m%d}_export.ndjson"
BUNDLE_FILE = f"lfpse_{EXPORT_DATE:%Y%m%d}_export_bundle.json"
CHANGES_FILE = f"lfpse_{ANCHOR_DATE:%Y%m%d}_changes.json"
REPLAY_FILE = f"lfpse_{ANCHOR_DATE:%Y%m%d}_replay_older.json"  # sorts after CHANGES_FILE: arrives later
MANIFEST_FILE = "manifest_lfpse.json"

UPDATES = 2
DELETIONS = 1
UNSUPPORTED_VERSION = 7
V5_BASE = "https://psims-uat.azure-api.net/taxonomy/fhir/StructureDefinition/"
V6_BASE = "https://developer.learn-from-patient-safety-events.nhs.uk/taxonomy/fhir/StructureDefinition/"

EVENT_TYPE_WEIGHTS = {"incident": 70.0, "outcome": 10.0, "risk": 10.0, "goodCare": 10.0}
PHYSICAL_HARM_WEIGHTS = {"5": 62.0, "4": 27.0, "3": 7.0, "2": 2.5, "1": 1.5}
PSYCHOLOGICAL_HARM_WEIGHTS = {"4": 70.0, "3": 20.0, "2": 8.0, "1": 2.0}
GENDER_WEIGHTS = {"1": 50.0, "2": 46.0, "3": 3.0, "4": 1.0}
ETHNICITY_WEIGHTS = {"11": 70.0, "13": 6.0, "52": 7.0, "31": 3.0, "41": 3.0, "42": 2.0, "23": 2.0, "34": 2.0,
                     "51": 2.0, "12": 1.0, "33": 1.0, "35": 1.0}
INCIDENT_PATIENTS = {0: 10.0, 1: 65.0, 2: 15.0, 3: 10.0}

NARRATIVES = {
    "incident": (
        "Repeat prescription for {drug} issued at the wrong strength; picked up by the community pharmacist "
        "before it was dispensed.",
        "Abnormal blood result ({test}) filed without action; patient recalled {delay} days later.",
        "Urgent two-week-wait referral not sent because the e-Referral request failed to submit.",
        "Patient given the wrong vaccine brand at the flu clinic; no adverse reaction observed.",
        "Home visit request not passed to the duty doctor; visit made the following day.",
        "Patient fell in the car park after slipping on ice outside the surgery entrance.",
        "Warfarin dose changed by the hospital but the practice record was not updated for {delay} days.",
        "Letter with test results sent to a patient with the same name at a different address.",
    ),
    "outcome": (
        "Unplanned admission after deterioration at home; fact-finding requested by the practice.",
        "Patient reattended within 48 hours with worsening symptoms; reviewed at the practice meeting.",
    ),
    "risk": (
        "Vaccine fridge temperature log shows repeated gaps over weekends.",
        "Only one clinician trained to manage the practice's defibrillator checks.",
        "Clinical system downtime procedure not rehearsed since the system upgrade.",
    ),
    "goodCare": (
        "Receptionist noticed a patient struggling to breathe in the waiting room and escalated at once.",
        "Practice nurse spotted a missed medication review and arranged it the same week.",
    ),
}
DRUGS = ("amlodipine", "levothyroxine", "metformin", "sertraline", "ramipril", "apixaban", "co-codamol")
TESTS = ("potassium", "HbA1c", "INR", "eGFR", "PSA")
OUTCOMES = ("Bruising, no further treatment needed.", "Reviewed by GP; no lasting effects.",
            "Required a short hospital stay for observation.", "Medication stopped and bloods repeated.")


@dataclass
class _Event:
    resource_id: str
    practice: str
    version: int
    event_type: str
    occurred: dt.date
    resource: dict[str, Any]
    patients: list[dict[str, str]] = field(default_factory=list)  # per patient: the coded values written


@dataclass
class _Plan:
    events: list[_Event]
    ndjson_lines: list[str]
    bundle: dict[str, Any]
    changes: dict[str, Any]
    replay: dict[str, Any]
    updated: list[_Event]
    deleted: list[_Event]
    manifest: dict[str, Any]


def generate_lfpse_feeds(out_dir: Path, *, seed: int = DEFAULT_SEED, events_per_practice: int = 30,
                         practices: tuple[str, ...] = DEFAULT_PRACTICES) -> dict[str, Any]:
    """Write the export, changes and manifest files into ``out_dir``; return the manifest."""
    plan = _plan(seed, events_per_practice, practices)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(out_dir / NDJSON_FILE, "".join(line + "\n" for line in plan.ndjson_lines))
    _write(out_dir / BUNDLE_FILE, _pretty(plan.bundle))
    _write(out_dir / CHANGES_FILE, _pretty(plan.changes))
    _write(out_dir / MANIFEST_FILE, _pretty(plan.manifest))
    return plan.manifest


def write_older_replay(out_dir: Path, *, seed: int = DEFAULT_SEED, events_per_practice: int = 30,
                       practices: tuple[str, ...] = DEFAULT_PRACTICES) -> dict[str, Any]:
    """Write ``REPLAY_FILE``: the original (older) versions of the changed and deleted events, as re-sent later.

    Returns its manifest entry. Loaded after the changes file it must change nothing: the newest source update
    wins whatever order files arrive in, and a deleted record stays deleted.
    """
    plan = _plan(seed, events_per_practice, practices)
    _write(out_dir / REPLAY_FILE, _pretty(plan.replay))
    return plan.manifest["replay"]


# --- building the plan -----------------------------------------------------------------------------------------

def _plan(seed: int, events_per_practice: int, practices: tuple[str, ...]) -> _Plan:
    if events_per_practice < 4 or not practices:
        raise ValueError("need at least one practice and 4 events per practice")
    rng = random.Random(seed)
    reference = iter(range(100001, 10**6))
    events: list[_Event] = []
    for p_index, practice in enumerate(practices):
        version = 6 if p_index == len(practices) - 1 and len(practices) > 1 else 5  # one practice on v6
        for e_index in range(events_per_practice):
            forced = (3, "incident") if (p_index, e_index) == (0, 0) else None  # always one 3-patient incident
            events.append(_event(rng, practice, version, next(reference), forced))
    three_patients = events[0]
    events.sort(key=lambda e: (e.occurred, e.resource_id))
    half = len(events) // 2
    early, late = events[:half], events[half:]

    # Planted defects. The unknown code goes on a one-patient incident so exactly one row is quarantined for it.
    unknown_code = next(e for e in late if e.event_type == "incident" and len(e.patients) == 1)
    _set_patient_value(unknown_code, 0, "PhysicalHarm", "6")
    truncated = json.dumps(_event(rng, practices[0], 5, next(reference)).resource, separators=(",", ":"))
    truncated = truncated[: len(truncated) // 2]
    patient_resource = {"resourceType": "Patient", "id": _uuid(rng), "gender": "female"}
    unsupported = _event(rng, practices[0], UNSUPPORTED_VERSION, next(reference)).resource
    no_sequence = _event(rng, practices[-1], 5, next(reference), (2, "incident")).resource
    _drop_patient_sequence(no_sequence)
    not_lfpse = _non_lfpse_adverse_event(rng)

    ndjson_items: list[Any] = [e.resource for e in early]
    for position, item in ((3, truncated), (7, patient_resource), (11, unsupported)):
        ndjson_items.insert(min(position, len(ndjson_items)), item)
    ndjson_lines = [i if isinstance(i, str) else json.dumps(i, ensure_ascii=False, separators=(",", ":"))
                    for i in ndjson_items]
    bundle_items = [e.resource for e in late]
    for position, item in ((2, not_lfpse), (5, no_sequence)):
        bundle_items.insert(min(position, len(bundle_items)), item)
    bundle = {"resourceType": "Bundle", "id": _uuid(rng), "type": "collection",
              "timestamp": _instant(dt.datetime.combine(EXPORT_DATE, dt.time(5, 0))),
              "entry": [{"fullUrl": f"AdverseEvent/{r['id']}" if r["resourceType"] == "AdverseEvent" else
                         f"urn:uuid:{r['id']}", "resource": r} for r in bundle_items]}

    # Later changes: newer versions with changed harm, and a deletion. Originals are kept for the replay file.
    candidates = [e for e in early if e.event_type == "incident" and e.patients and e is not three_patients]
    updated = rng.sample(candidates, UPDATES)
    deleted = rng.sample([e for e in late if e is not unknown_code], DELETIONS)
    originals = [copy.deepcopy(e.resource) for e in (*updated, *deleted)]
    new_versions = [_updated_version(rng, e, n) for n, e in enumerate(updated)]
    changes = {"resourceType": "Bundle", "id": _uuid(rng), "type": "transaction", "timestamp": _instant(CHANGES_TIME),
               "entry": [*({"fullUrl": f"AdverseEvent/{r['id']}", "resource": r,
                            "request": {"method": "PUT", "url": f"AdverseEvent/{r['id']}"}} for r in new_versions),
                         *({"request": {"method": "DELETE", "url": f"AdverseEvent/{e.resource_id}"}}
                           for e in deleted)]}
    replay = {"resourceType": "Bundle", "id": _uuid(rng), "type": "collection",
              "timestamp": _instant(CHANGES_TIME + dt.timedelta(hours=6)),
              "entry": [{"fullUrl": f"AdverseEvent/{r['id']}", "resource": r} for r in originals]}

    manifest = _manifest(seed, events_per_practice, practices, events, three_patients, unknown_code, updated,
                         deleted, ndjson_lines, bundle, changes, early, late)
    manifest["replay"] = {
        "file": REPLAY_FILE, "format": "bundle-collection", "records": len(originals),
        "rows": sum(max(1, len(e.patients)) for e in (*updated, *deleted)),
        "events": len(originals), "malformed": {}, "quarantined": {},
        "expected_effect": "none: every record in it is older than the version already loaded",
    }
    manifest["replay"]["rows_in"] = manifest["replay"]["rows"]
    return _Plan(events, ndjson_lines, bundle, changes, replay, updated, deleted, manifest)


def _manifest(seed: int, events_per_practice: int, practices: tuple[str, ...], events: list[_Event],
              first: _Event, unknown_code: _Event, updated: list[_Event], deleted: list[_Event],
              ndjson_lines: list[str], bundle: dict[str, Any], changes: dict[str, Any], early: list[_Event],
              late: list[_Event]) -> dict[str, Any]:
    def rows(group: list[_Event]) -> int:
        return sum(max(1, len(e.patients)) for e in group)

    def entry(fmt: str, records: int, group: list[_Event], malformed: dict[str, int],
              transform: dict[str, int], deletions: int = 0, updates: int = 0) -> dict[str, Any]:
        frame_rows = rows(group) + deletions
        return {
            "format": fmt, "records": records, "rows": frame_rows,
            "rows_in": frame_rows + sum(malformed.values()),
            "events": len(group), "patients": sum(len(e.patients) for e in group),
            "events_without_patients": sum(1 for e in group if not e.patients),
            "event_types": dict(sorted(Counter(e.event_type for e in group).items())),
            "taxonomy_versions": {str(k): v for k, v in sorted(Counter(e.version for e in group).items())},
            "updates": updates, "deletions": deletions,
            "malformed": malformed,  # quarantined by the reader (RawBatch.malformed), one entry per record
            "quarantined": dict(sorted(Counter({**malformed, **transform}).items())),  # reader + transform
            "expected_loaded_rows": frame_rows - sum(transform.values()),
        }

    reader_ndjson = {"fhir.invalid_json": 1, "fhir.not_adverse_event": 1, "fhir.unsupported_taxonomy": 1}
    reader_bundle = {"fhir.not_lfpse": 1, "fhir.missing_element": 1}
    files = {
        NDJSON_FILE: entry("ndjson", len(ndjson_lines), early, reader_ndjson, {}),
        BUNDLE_FILE: entry("bundle-collection", len(bundle["entry"]), late, reader_bundle, {"code.unknown": 1}),
        CHANGES_FILE: entry("bundle-transaction", len(changes["entry"]), updated, {}, {},
                            deletions=len(deleted), updates=len(updated)),
    }
    live = [e for e in events if e not in deleted and e is not unknown_code]
    return {
        "generator": "demo.lfpse", "seed": seed, "anchor_date": ANCHOR_DATE.isoformat(),
        "events_per_practice": events_per_practice, "practices": list(practices),
        "files": files,
        "totals": {key: sum(f[key] for f in files.values())
                   for key in ("records", "rows", "rows_in", "updates", "deletions")},
        "events_by_practice": dict(sorted(Counter(e.practice for e in events).items())),
        "updated_resource_ids": [e.resource_id for e in updated],
        "deleted_resource_ids": [e.resource_id for e in deleted],
        "unknown_code_resource_id": unknown_code.resource_id,
        "three_patient_event": {"resource_id": first.resource_id,
                                "physical_harm": [p.get("PhysicalHarm", "") for p in first.patients],
                                "psychological_harm": [p.get("PsychologicalHarm", "") for p in first.patients]},
        # After loading the three files in name order (the replay file changes nothing):
        "final_state": {"events_loaded": len(events) - 1, "deleted_events": len(deleted), "live_events": len(live),
                        "live_patient_rows": sum(len(e.patients) for e in live)},
    }


# --- one event -------------------------------------------------------------------------------------------------

def _event(rng: random.Random, practice: str, version: int, reference: int,
           forced: tuple[int, str] | None = None) -> _Event:
    event_type = forced[1] if forced else _pick(rng, EVENT_TYPE_WEIGHTS)
    if forced:
        n_patients = forced[0]
    elif event_type == "incident":
        n_patients = int(_pick(rng, {str(k): v for k, v in INCIDENT_PATIENTS.items()}))
    else:
        n_patients = {"outcome": 1, "risk": 0, "goodCare": rng.choice((0, 1))}[event_type]
    occurred = WINDOW_START + dt.timedelta(days=rng.randrange((WINDOW_END - WINDOW_START).days + 1))
    recorded = min(occurred + dt.timedelta(days=rng.choice((0, 0, 1, 1, 2, 3))), EXPORT_DATE - dt.timedelta(days=1))
    updated_at = dt.datetime.combine(recorded, dt.time(rng.randrange(8, 19), rng.randrange(60), rng.randrange(60),
                                                       rng.randrange(1000) * 1000))
    base = V6_BASE if version >= 6 else V5_BASE
    resource_id = _uuid(rng)
    patients = [_patient_values(rng, event_type, n + 1) for n in range(n_patients)]
    contained: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": f"patient{n + 1}",
         "extension": [_ext(rng, base, "patient-information", version, values)]}
        for n, values in enumerate(patients)]
    organisations = [practice] + (["RAJ"] if rng.random() < 0.05 else [])
    location = [("LocationKnown", "valueCode", "y"), *(("Organisation", "valueCode", o) for o in organisations),
                ("ServiceArea", "valueCode", "17"), ("LocationWithinService", "valueCode",
                                                     rng.choice(("11", "11", "11", "2")))]
    contained.append({"resourceType": "Location", "id": "location1",
                      "extension": [_ext_items(rng, base, "location-details", version, location)]})
    harms = [p["PhysicalHarm"] for p in patients if "PhysicalHarm" in p]
    worst = min(harms, default="5")
    extensions = [
        _ext_items(rng, base, "adverse-event-reference-metadata", version, [
            ("ReferenceNumber", "valueString", f"W{reference}"), ("FromOnlineForms", "valueBoolean", True),
            ("IsAnonymous", "valueBoolean", rng.random() < 0.05),
            ("DataSharingOptOut", "valueBoolean", rng.random() < 0.05)]),
        _ext_items(rng, base, "adverse-event-estimated-date", version, [
            ("TodaysDate", "valueDate", recorded.isoformat()),
            *([("PreciseTime", "valueTime", f"{rng.randrange(8, 19):02d}:{rng.randrange(60):02d}:00")]
              if rng.random() < 0.4 else [])]),
    ]
    if event_type == "incident":
        never_event = rng.random() < 0.02
        extensions.append(_ext_items(rng, base, "adverse-event-governance", version, [
            ("DutyOfCandour", "valueBoolean", worst in ("3", "2", "1")),
            ("NeverEvent", "valueBoolean", never_event),
            *([("NeverEventType", "valueCode", rng.choice(("5", "6", "13")))] if never_event else []),
            ("SeriousIncident", "valueBoolean", False),
            ("CqcNotify", "valueBoolean", worst in ("2", "1")),
            ("HsibNotify", "valueBoolean", False),
            ("LocalAuthoritySafeguarding", "valueBoolean", rng.random() < 0.03)]))
    rng.shuffle(extensions)  # order carries no meaning: readers must go by url
    date_text = occurred.isoformat()
    if rng.random() < 0.3:
        moment = dt.datetime.combine(occurred, dt.time(rng.randrange(7, 22), rng.choice((0, 15, 30, 45))))
        date_text = moment.isoformat() + _london_offset(occurred)
    narrative = rng.choice(NARRATIVES[event_type]).format(drug=rng.choice(DRUGS), test=rng.choice(TESTS),
                                                           delay=rng.randrange(2, 15))
    resource: dict[str, Any] = {
        "resourceType": "AdverseEvent", "id": resource_id,
        "meta": {"lastUpdated": _instant(updated_at, local=True),
                 "profile": [f"{base}patient-safety-adverse-event-{version}"]},
        "contained": contained, "extension": extensions,
        "type": {"coding": [{"code": event_type}]},
        "date": date_text, "location": {"reference": "#location1"}, "description": narrative,
    }
    return _Event(resource_id, practice, version, event_type, occurred, resource, patients)


def _patient_values(rng: random.Random, event_type: str, sequence: int) -> dict[str, str]:
    values = {"PatientSequence": str(sequence)}
    if event_type in ("incident", "outcome"):
        values["PhysicalHarm"] = _pick(rng, PHYSICAL_HARM_WEIGHTS)
        values["PsychologicalHarm"] = _pick(rng, PSYCHOLOGICAL_HARM_WEIGHTS)
        if values["PhysicalHarm"] != "5":
            values["StrengthOfAssociation"] = rng.choice(("4", "5", "6", "2"))
            if rng.random() < 0.5:
                values["ClinicalOutcome"] = rng.choice(OUTCOMES)
    if rng.random() < 0.8:
        values["AgeAtTimeOfIncidentDays"] = str(rng.randrange(0, 95 * 365))
    else:
        values["AgeBracket"] = str(rng.randrange(1, 13))
    values["Gender"] = _pick(rng, GENDER_WEIGHTS)
    values["PatientEthnicity"] = _pick(rng, ETHNICITY_WEIGHTS)
    return values


_VALUE_TYPES = {"PatientSequence": "valueInteger", "AgeAtTimeOfIncidentDays": "valueInteger",
                "ClinicalOutcome": "valueString"}


def _ext(rng: random.Random, base: str, name: str, version: int, values: dict[str, str]) -> dict[str, Any]:
    items = [(k, _VALUE_TYPES.get(k, "valueCode"), int(v) if _VALUE_TYPES.get(k) == "valueInteger" else v)
             for k, v in values.items()]
    return _ext_items(rng, base, name, version, items)


def _ext_items(rng: random.Random, base: str, name: str, version: int,
               items: list[tuple[str, str, Any]]) -> dict[str, Any]:
    nested = [{"url": url, key: value} for url, key, value in items]
    rng.shuffle(nested)
    return {"url": f"{base}{name}-{version}", "extension": nested}


def _set_patient_value(event: _Event, index: int, url: str, value: str) -> None:
    event.patients[index][url] = value
    patient = [c for c in event.resource["contained"] if c["resourceType"] == "Patient"][index]
    for nested in patient["extension"][0]["extension"]:
        if nested["url"] == url:
            nested["valueCode"] = value


def _drop_patient_sequence(resource: dict[str, Any]) -> None:
    patient = next(c for c in resource["contained"] if c["resourceType"] == "Patient")
    info = patient["extension"][0]
    info["extension"] = [n for n in info["extension"] if n["url"] != "PatientSequence"]


def _updated_version(rng: random.Random, event: _Event, n: int) -> dict[str, Any]:
    """A newer version: the first patient's physical harm changes (reviewed upwards), lastUpdated moves on."""
    resource = copy.deepcopy(event.resource)
    old = event.patients[0]["PhysicalHarm"]
    new = {"5": "4", "4": "3", "3": "2", "2": "3", "1": "2"}[old]
    patient = next(c for c in resource["contained"] if c["resourceType"] == "Patient")
    for nested in patient["extension"][0]["extension"]:
        if nested["url"] == "PhysicalHarm":
            nested["valueCode"] = new
    resource["meta"]["lastUpdated"] = _instant(dt.datetime(2026, 10, 30, 9 + n, rng.randrange(60), rng.randrange(60),
                                                           rng.randrange(1000) * 1000), local=True)
    return resource


def _non_lfpse_adverse_event(rng: random.Random) -> dict[str, Any]:
    """A valid STU3 AdverseEvent from another FHIR system (no LFPSE profile or extensions)."""
    return {"resourceType": "AdverseEvent", "id": _uuid(rng),
            "meta": {"lastUpdated": "2026-10-12T10:00:00Z"},
            "category": "AE",
            "type": {"coding": [{"system": "http://snomed.info/sct", "code": "304386008",
                                 "display": "O/E - itchy rash"}]},
            "date": "2026-10-11", "description": "Itchy rash after starting a new antibiotic."}


# --- small helpers ---------------------------------------------------------------------------------------------

def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _london_offset(day: dt.date) -> str:
    """UK clock offset on ``day`` (British Summer Time 29 March - 25 October 2026), enough for the demo window."""
    return "+01:00" if dt.date(2026, 3, 29) <= day < dt.date(2026, 10, 25) else "+00:00"


def _instant(moment: dt.datetime, local: bool = False) -> str:
    """A FHIR instant; ``local`` renders UK local time with its offset and milliseconds, as LFPSE servers may."""
    if not local:
        return moment.replace(microsecond=0).isoformat() + "Z"
    offset = _london_offset(moment.date())
    shifted = moment + dt.timedelta(hours=1 if offset == "+01:00" else 0)
    return shifted.isoformat(timespec="milliseconds") + offset


def _pretty(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--events-per-practice", type=int, default=30)
    args = parser.parse_args(argv)
    manifest = generate_lfpse_feeds(args.out_dir, seed=args.seed, events_per_practice=args.events_per_practice)
    for name, entry in manifest["files"].items():
        print(f"{name}: {entry['rows_in']} rows in, quarantined {entry['quarantined']}")


if __name__ == "__main__":
    main()
