"""Demo: the LFPSE national record of the partner trusts, with known differences from their own LRMS records.

The ICB receives, besides each trust's LRMS export, an LFPSE export of the same organisations (the same FHIR
layout as the GP practices' feed, :mod:`demo.lfpse`). It is built here from the very incident rows the trusts'
demo exports hold (:mod:`demo.feeds` regenerates them from the same seed), so every record a trust loads has
its national copy, except where a difference is planted. Planted, at exact counts over the whole export (they do
not scale with the number of incidents; the manifest lists each one):

- ``not_submitted``: reported locally more than the submission window before the export, never sent to LFPSE;
- ``awaiting_submission``: reported locally within the window, not in LFPSE yet (not a failure yet);
- ``submitted_late``: in LFPSE, but recorded there 40 days after the local report;
- ``lfpse_only``: in LFPSE only (entered straight into LFPSE's forms, so they carry no LRMS reference);
- ``harm_disagreement``: graded differently (local moderate, national low where the trust has moderate records);
- ``never_event_disagreement``: a Never Event in LFPSE that the LRMS record says is not one;
- ``matched_by_score``: national copies that lack the LRMS reference, matched by the scoring rule.

Each national record carries the trust's LRMS reference as ``AdverseEvent.identifier`` with the system
:data:`LRMS_REFERENCE_SYSTEM` (what ``config/profiles/lfpse_fhir_v5_national.toml`` reads), its trust as
``Organisation``, harm for its one patient (none for records that name no patient) and the same governance flags
as the local record. Deterministic: the same arguments give a byte-identical file.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.feeds import (
    ANCHOR_DATE,
    DEFAULT_SEED,
    INCIDENTS,
    NO_PATIENT_CATEGORIES,
    _bool_word,
    _choosers,
    _Context,
    _incidents,
    _vocab,
)
from psirf.registry import Provider
from transforms.profile import MappingProfile

LRMS_REFERENCE_SYSTEM = "https://fhir.essex-psirf.example/lrms-local-reference"
V5_BASE = "https://psims-uat.azure-api.net/taxonomy/fhir/StructureDefinition/"
EXPORT_FILE = f"lfpse_trusts_{ANCHOR_DATE:%Y%m%d}_export.ndjson"
MANIFEST_FILE = "manifest_lfpse_trusts.json"
SUBMISSION_WINDOW_DAYS = 30  # the dbt var lfpse_submission_window_days, default
MATCH_TOLERANCE_DAYS = 3  # the dbt var lfpse_match_tolerance_days, default
LATE_BY_DAYS = 40

PLANTED: dict[str, int] = {
    "not_submitted": 3,
    "awaiting_submission": 2,
    "submitted_late": 3,
    "lfpse_only": 3,
    "harm_disagreement": 4,
    "never_event_disagreement": 2,
    "matched_by_score": 4,
}
LESS_HARM = {"1": "2", "2": "3", "3": "4", "4": "5", "5": "4"}  # one grade milder (none: one worse)


@dataclass
class _Local:
    """What the national copy needs from one loaded local incident."""

    ods: str
    record_id: str
    reference: str
    occurred: dt.date
    reported: dt.date
    harm: str
    patients: int
    candour: bool | None
    never_event: bool | None


def local_incidents(provider: Provider, profile: MappingProfile, *, seed: int, incidents_per_provider: int
                    ) -> list[_Local]:
    """The incidents a trust's demo export loads (the planted defects left out), regenerated from the seed exactly
    as :func:`demo.feeds.generate_provider` draws them."""
    display_style = "web" in profile.source_system.lower()
    encoding = "cp1252" if display_style else "utf-8-sig"
    ctx = _Context(profile=profile, vocab=_vocab(encoding), display_style=display_style, encoding=encoding,
                   choosers=_choosers(profile),
                   true_word=_bool_word(profile.true_values, ("yes", "y", "true")),
                   false_word=_bool_word(profile.false_values, ("no", "n", "false")))
    rng = random.Random(f"{seed}:{provider.ods_code}:{INCIDENTS}")
    mapping = profile.entity(INCIDENTS)

    def code(field: str, label: str) -> str:
        text = label
        for pattern in profile.label_prefix_patterns:
            text = pattern.sub("", text, count=1)
        return mapping.codes.get(field, {}).get(" ".join(text.split()).casefold(), "")

    def flag(value: str | None) -> bool | None:
        if not value:
            return None
        return " ".join(value.split()).casefold() in profile.true_values

    out = []
    for row in _incidents(rng, ctx, provider.ods_code, incidents_per_provider):
        if row.defect is not None:
            continue
        v = row.values
        category = code("category", v.get("category", "")) if v.get("category") else ""
        out.append(_Local(
            ods=provider.ods_code, record_id=v["source_record_id"], reference=v["local_reference"],
            occurred=dt.datetime.strptime(v["occurred_date"], profile.date_format).date(),
            reported=dt.datetime.strptime(v["reported_date"], profile.date_format).date(),
            harm=code("physical_harm", v["physical_harm"]),
            patients=0 if category in NO_PATIENT_CATEGORIES else 1,
            candour=flag(v.get("duty_of_candour")) if "duty_of_candour" in mapping.columns else None,
            never_event=flag(v.get("never_event")) if "never_event" in mapping.columns else None))
    return out


def generate_national_export(out_dir: Path, trusts: list[tuple[Provider, MappingProfile]], *,
                             seed: int = DEFAULT_SEED, incidents_per_provider: int) -> dict[str, Any]:
    """Write the trusts' LFPSE export (NDJSON) and its manifest into ``out_dir``; return the manifest."""
    rng = random.Random(f"{seed}:lfpse_national")
    locals_ = [inc for provider, profile in trusts
               for inc in local_incidents(provider, profile, seed=seed, incidents_per_provider=incidents_per_provider)]
    chosen: dict[str, list[_Local]] = {kind: [] for kind in PLANTED}
    taken: set[str] = set()

    def pick(kind: str, eligible: list[_Local]) -> None:
        pool = [i for i in eligible if i.reference not in taken]
        for inc in rng.sample(pool, min(PLANTED[kind], len(pool))):
            chosen[kind].append(inc)
            taken.add(inc.reference)

    window_start = ANCHOR_DATE - dt.timedelta(days=SUBMISSION_WINDOW_DAYS)
    pick("awaiting_submission", [i for i in locals_ if i.reported > window_start])
    pick("not_submitted", [i for i in locals_ if i.reported < window_start - dt.timedelta(days=1)])
    unmatched = chosen["awaiting_submission"] + chosen["not_submitted"]

    def clear_of(inc: _Local, others: list[_Local], days: int) -> bool:
        return all(o.ods != inc.ods or abs((o.occurred - inc.occurred).days) > days for o in others if o is not inc)

    # Matched by score: uniquely, so no local record left unmatched lies within twice the tolerance of it.
    pick("matched_by_score", [i for i in locals_ if clear_of(i, unmatched, 2 * MATCH_TOLERANCE_DAYS)])
    pick("submitted_late", [i for i in locals_ if i.reported + dt.timedelta(days=LATE_BY_DAYS) <= ANCHOR_DATE])
    moderate = [i for i in locals_ if i.harm == "3" and i.patients]
    pick("harm_disagreement", moderate if len([i for i in moderate if i.reference not in taken]) >= PLANTED[
        "harm_disagreement"] else [i for i in locals_ if i.patients])
    pick("never_event_disagreement", [i for i in locals_ if i.never_event is False])

    records: list[dict[str, Any]] = []
    left_out = {i.reference for i in unmatched}
    for n, inc in enumerate(locals_):
        if inc.reference in left_out:
            continue
        delay = LATE_BY_DAYS if inc in chosen["submitted_late"] else rng.randint(0, 3)
        recorded = min(inc.reported + dt.timedelta(days=delay), ANCHOR_DATE)
        harm = LESS_HARM[inc.harm] if inc in chosen["harm_disagreement"] else inc.harm
        never = True if inc in chosen["never_event_disagreement"] else inc.never_event
        reference = None if inc in chosen["matched_by_score"] else inc.reference
        records.append(_resource(rng, n, inc.ods, inc.occurred, recorded, harm if inc.patients else None,
                                 reference, inc.candour, never))
    # LFPSE only: on days no record of the trust is near, so nothing can match them.
    trusts_ods = sorted({i.ods for i in locals_})
    for k in range(PLANTED["lfpse_only"]):
        ods = trusts_ods[k % len(trusts_ods)]
        same = [i for i in locals_ if i.ods == ods]
        day = ANCHOR_DATE - dt.timedelta(days=60 + 7 * k)
        while not all(abs((i.occurred - day).days) > 2 * MATCH_TOLERANCE_DAYS for i in same):
            day -= dt.timedelta(days=1)
        records.append(_resource(rng, 10_000 + k, ods, day, day + dt.timedelta(days=1), "4", None, None, False))
        chosen["lfpse_only"].append(_Local(ods, records[-1]["id"], "", day, day, "4", 1, None, False))
    # The export's as-at time: its newest record was last updated on the anchor date.
    records[0]["meta"]["lastUpdated"] = f"{ANCHOR_DATE.isoformat()}T05:00:00Z"

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / EXPORT_FILE).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                       encoding="utf-8", newline="\n")
    manifest = {
        "file": EXPORT_FILE, "records": len(records), "as_at": ANCHOR_DATE.isoformat(),
        "local_incidents": len(locals_), "planted": {kind: len(v) for kind, v in chosen.items()},
        "planted_records": {kind: [{"provider_ods": i.ods, "local_reference": i.reference or None,
                                    "record_id": i.record_id} for i in v] for kind, v in chosen.items()},
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _resource(rng: random.Random, n: int, ods: str, occurred: dt.date, recorded: dt.date, harm: str | None,
              reference: str | None, candour: bool | None, never_event: bool | None) -> dict[str, Any]:
    def ext(name: str, items: list[tuple[str, str, Any]]) -> dict[str, Any]:
        return {"url": f"{V5_BASE}{name}-5", "extension": [{"url": u, k: v} for u, k, v in items]}

    governance: list[tuple[str, str, Any]] = []
    if candour is not None:
        governance.append(("DutyOfCandour", "valueBoolean", candour))
    if never_event is not None:
        governance.append(("NeverEvent", "valueBoolean", never_event))
        if never_event:
            governance.append(("NeverEventType", "valueCode", "5"))
    contained: list[dict[str, Any]] = [{"resourceType": "Location", "id": "location1", "extension": [
        ext("location-details", [("Organisation", "valueCode", ods)])]}]
    if harm is not None:
        contained.insert(0, {"resourceType": "Patient", "id": "patient1", "extension": [ext("patient-information", [
            ("PatientSequence", "valueInteger", 1), ("PhysicalHarm", "valueCode", harm)])]})
    resource: dict[str, Any] = {
        "resourceType": "AdverseEvent", "id": f"{rng.getrandbits(64):016x}-{n:05d}",
        "meta": {"lastUpdated": f"{recorded.isoformat()}T{9 + n % 8:02d}:{n % 60:02d}:00Z",
                 "profile": [f"{V5_BASE}patient-safety-adverse-event-5"]},
        "contained": contained,
        "extension": [
            ext("adverse-event-reference-metadata", [
                ("ReferenceNumber", "valueString", f"LFPSE-{ods}-{n:06d}"), ("IsAnonymous", "valueBoolean", False),
                ("DataSharingOptOut", "valueBoolean", False)]),
            ext("adverse-event-estimated-date", [("TodaysDate", "valueDate", recorded.isoformat())]),
            *([ext("adverse-event-governance", governance)] if governance else []),
        ],
        "type": {"coding": [{"code": "incident"}]},
        "date": occurred.isoformat(), "location": {"reference": "#location1"},
        "description": "Submitted to LFPSE from the trust's risk management system.",
    }
    if reference is not None:
        resource["identifier"] = {"system": LRMS_REFERENCE_SYSTEM, "value": reference}
    return resource
