"""Deterministic demo exports in the shape of real Datix listing reports, with planted defects at known counts.

Why: the pipeline has to be demonstrated and tested end to end without real patient data, and its tests need to
know exactly which rows should load, which should be quarantined (and under which rule) and which are duplicates.
Everything provider-specific comes from the registry and the mapping profiles (column names, code labels, date
layouts, yes/no values, rejected-record values); only the unmapped PII columns, which by definition no profile
names, are written here. Output is byte-identical for the same arguments: a fixed seed and a fixed anchor date,
never ``today()``, so a rerun produces files with the same checksum.

Run ``python -m demo.feeds [OUT_HOME]`` to write the feeds for every registered provider.
"""

# The vocabulary deliberately holds typographic quotes and en dashes: real exports do, and they are what breaks
# naive decoding. Hence no RUF001 ("ambiguous character") in this file.

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import io
import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from psirf import settings
from psirf.registry import Provider, load_registry
from transforms.profile import MappingProfile, load_profile

ANCHOR_DATE = dt.date(2026, 10, 31)  # the export ("extract") date: nothing valid is dated after it
FILE_STAMP = ANCHOR_DATE.strftime("%Y%m%d")  # replaces the ``*`` of each entity's glob
WINDOW_START = dt.date(2025, 11, 1)  # incidents occurred in the twelve months to the anchor date
BASE_N = 200  # the defect counts below are exact for this many distinct incident rows and scale with N
DEFAULT_SEED = 20261127
INCIDENTS = "incidents"
SAFETY_ACTIONS = "safety_actions"

# Planted defects per BASE_N incidents: one defect per row, so the per-rule counts are exact row counts.
INCIDENT_DEFECTS: dict[str, int] = {
    "nhs_number.invalid_check_digit": 4,
    "nhs_number.scientific_notation": 2,
    "date.unparseable": 3,
    "date.in_future": 2,
    "date.placeholder": 2,
    "code.unknown": 3,
    "required.missing": 3,
    "record.rejected_in_source": 2,
}
INCIDENT_DUPLICATES = 5
FREE_TEXT_WITH_IDENTIFIERS = 3
ACTION_DEFECTS: dict[str, int] = {"required.missing": 2, "code.unknown": 2, "date.unparseable": 2}
ACTION_DUPLICATES = 3

# Values that look like what staff and spreadsheets really produce; none of them can be read as valid.
UNPARSEABLE_DATES = ("31/02/2026", "2026-13-01", "yesterday")
UNPARSEABLE_DUE_DATES = ("31/09/2026", "next week", "30/02/2026")
UNKNOWN_HARM_LABELS = ("Moderate-ish", "Harm (unclear)", "Near miss - TBC")
UNKNOWN_STATUS_LABELS = ("Awaiting sign-off", "On hold")
PLACEHOLDER_DATE = dt.date(1900, 1, 1)
FUTURE_YEAR = 2031
DEACTIVATED_PREFIX = "(Old Code, deactivated 31.03.23): "
APPROVAL_STATUSES = ("FA", "FA", "FA", "FA", "AWAFA", "INREV", "AWAREV")  # Datix codes; REJECT is planted

# Columns no profile maps: they must be dropped by the transform and never reach the warehouse.
PII_COLUMNS_DISPLAY = ("Patient Name", "Address", "Postcode")
PII_COLUMNS_FIELD = ("con_forenames", "con_surname", "con_postcode")

# Weights by *national* code (so they hold whatever local wording a profile uses); unknown codes weigh 1.
HARM_WEIGHTS = {"5": 62.0, "4": 27.0, "3": 7.0, "2": 2.5, "1": 1.5}
MODERATE_OR_WORSE = frozenset({"3", "2", "1"})
GENDER_WEIGHTS = {"1": 48.0, "2": 48.0, "9": 0.5, "X": 3.5}
ETHNICITY_WEIGHTS = {"A": 70.0, "Z": 6.0, "C": 5.0}
CATEGORY_WEIGHTS = {"patient_accident": 18.0, "medication": 15.0, "implementation_of_care": 12.0,
                    "clinical_assessment": 9.0, "treatment_procedure": 8.0,
                    "access_admission_transfer_discharge": 8.0, "infrastructure": 5.0}
NO_PATIENT_CATEGORIES = frozenset({"infrastructure"})  # staffing/environment incidents name no patient

NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
NHS_TEST_PREFIX = "999"
T = TypeVar("T")

# --- vocabulary ----------------------------------------------------------------------------------------------
# Entries a cp1252 file cannot hold (e.g. "≥", "Ł") are filtered out per encoding, so UTF-8 files get richer text.

WARDS = ("Zoë Ward", "Renée Ward", "Ward 7B", "Acute Medical Unit", "Stroke Unit", "Frailty Unit", "Children’s Ward",
         "Coronary Care Unit", "Maternity Unit")
# Location (Type) -> Location (Exact); an inpatient ward's exact location is one of WARDS.
LOCATIONS: dict[str, tuple[str, ...]] = {
    "Inpatient ward": (),
    "Emergency Department": ("ED Majors", "ED Resus", "ED Minors"),
    "Outpatient clinic": ("Fracture Clinic", "Diabetes Clinic", "Café area, main entrance"),
    "Theatre": ("Theatre 4", "Day Surgery Unit"),
    "Patient’s home": ("Patient’s home",),
    "Community setting": ("Health centre", "Care home"),
    "Ambulance": ("Ambulance vehicle", "Hospital forecourt"),
}
LOCATION_WEIGHTS = (60.0, 12.0, 8.0, 6.0, 6.0, 4.0, 4.0)
DRUGS = (("enoxaparin", "40 mg"), ("insulin (NovoRapid)", "8 units"), ("morphine sulfate", "10 mg"),
         ("gentamicin", "320 mg"), ("paracetamol", "1 g"), ("co-amoxiclav", "1.2 g"), ("apixaban", "5 mg"),
         ("levetiracetam", "500 mg"), ("oxycodone", "5 mg"), ("metformin", "500 mg"))
PATIENT_QUOTES = ("“I was only trying to get to the toilet”", "“I feel dizzy”", "“nobody told me”",
                  "‘I didn’t want to bother anyone’", "“the pain is getting worse”")

NARRATIVES: dict[str, tuple[str, ...]] = {
    "medication": (
        "Patient due {drug} {dose} at {clock} – dose omitted as not available on {ward}. Pharmacy contacted; "
        "dose given {delay} hours late.",
        "Controlled drug count discrepancy found at handover: {drug} balance one ampoule lower than the register.",
        "Patient given {drug} {dose} although an allergy was documented on the drug chart. Observations stable, "
        "doctor informed and allergy band applied.",
        "{drug} prescribed twice on the electronic chart (regular and PRN); second dose given. No ill effect – "
        "prescriber informed.",
        "Insulin not given before breakfast; blood glucose 19.4 mmol/L at lunchtime. Diabetes team asked to review.",
    ),
    "patient_accident": (
        "Patient found on the floor beside the bed at {clock} by HCA. Patient said {quote}. No obvious injury; neuro "
        "obs started, NEWS2 {news}.",
        "Unwitnessed fall in bay {bay} on {ward}. Patient was on enhanced observation (cohort bay). Complained of "
        "hip pain – X-ray requested.",
        "Patient slipped in the bathroom while mobilising without a frame. Small laceration to forehead, steri-strips "
        "applied.",
        "Fall from chair in day room. Lying and standing BP not recorded since admission; falls bundle incomplete.",
    ),
    "implementation_of_care": (
        "Category {cat} pressure ulcer found on sacrum during skin check. Not documented on the previous SSKIN "
        "bundle. Tissue viability referral made.",
        "Pressure damage to both heels noted on transfer from {ward}. Heel off-loading boots not in use.",
        "Moisture-associated skin damage progressing to category {cat} ulcer; repositioning chart gaps of {delay} "
        "hours.",
    ),
    "clinical_assessment": (
        "Deteriorating patient: NEWS2 of {news} not escalated for {delay} hours. Sepsis screen not completed until "
        "reviewed by the FY doctor.",
        "Delay in recognising stroke symptoms; FAST positive at {clock} but stroke team not bleeped until later.",
        "Temperature 38.9°C recorded but not acted on overnight; antibiotics started on the morning ward round.",
    ),
    "treatment_procedure": (
        "Procedure cancelled on the day as the consent form had not been signed and the patient was not starved.",
        "Cannula left in situ for more than 72 hours; site red and swollen – removed and phlebitis score recorded.",
        "Wrong-site marking identified at the WHO checklist sign-in; corrected before knife to skin.",
    ),
    "access_admission_transfer_discharge": (
        "Patient discharged without TTO medication; family rang the ward the next day. Supply arranged via "
        "community pharmacy.",
        "Patient transferred to {ward} at {clock} without a handover of the nasogastric feeding regime.",
        "Ambulance handover delayed by {delay} hours because of ED capacity; patient waited on the trolley.",
    ),
    "infection_control": (
        "Patient with C. difficile not isolated for 36 hours because no side room was available.",
        "Norovirus outbreak on {ward}: bays closed to admissions; staff exclusion for 48 hours after symptoms.",
    ),
    "medical_device_equipment": (
        "Infusion pump alarmed ‘occlusion’ repeatedly; pump taken out of use and labelled for EBME.",
        "Hoist sling found frayed during a transfer. Patient lowered safely; sling quarantined.",
        "Blood glucose meter quality control out of date; readings rechecked with the lab.",
    ),
    "documentation": (
        "Patient’s notes not available for clinic; consultation went ahead using the electronic record only.",
        "DNACPR form not completed correctly (no senior signature) – escalated to the consultant.",
    ),
    "consent_communication_confidentiality": (
        "Discharge letter sent to the wrong GP practice. Information governance team informed.",
        "Family not told of transfer to another hospital; daughter arrived to find the bed empty.",
        "Interpreter not booked for clinic; consultation rearranged. Patient said {quote}.",
    ),
    "self_harming_behaviour": (
        "Patient found with a ligature in the bathroom at {clock}; removed by staff, no injury. Observation level "
        "increased to 1:1.",
        "Patient disclosed self-harm with a razor blade brought in by a visitor; wounds dressed, room search done.",
    ),
    "disruptive_aggressive_behaviour": (
        "Patient verbally aggressive to staff after being asked to wait; security attended and de-escalated.",
        "Visitor threw a chair in the waiting area after a {delay}-hour wait. Police called; nobody injured.",
    ),
    "infrastructure": (
        "Ward staffed with 3 RNs against a planned 5 for the night shift; escalated to the site manager.",
        "Lift out of action for 6 hours – patients for theatre transferred via the service corridor.",
        "Water leak from the ceiling in bay {bay} on {ward}; four beds closed and estates called.",
    ),
}
GENERIC_NARRATIVES = (
    "Incident on {ward} at {clock}: reported at the safety huddle. Patient said {quote}.",
    "Delay of {delay} hours in care on {ward}; escalated to the nurse in charge.",
)
FOLLOW_UPS = (
    "Patient and family informed.",
    "Datix completed by the nurse in charge; matron aware.",
    "Reviewed by the on-call registrar – no further action needed overnight.",
    "Discussed at the morning safety huddle.",
    "Duty of candour conversation held with the patient’s son.",
    "Cost of replacement glasses (£45) reimbursed.",
    "SpO₂ 91% on air → oxygen started.",
    "Observations ≥ 4-hourly thereafter.",
)
ACTIONS_TAKEN = (
    "Patient reviewed by doctor; observations every hour for 4 hours.",
    "Area made safe and signage put up.",
    "Pharmacy informed; dose re-timed.",
    "Bed rails assessment repeated; low bed and crash mat in place.",
    "Family informed by phone.",
    "Escalated to site manager – extra HCA from the bank.",
)
LESSONS = (
    "Importance of completing the falls bundle within 6 hours of admission.",
    "Medicines reconciliation must be done before the first dose round.",
    "Escalate NEWS2 of 5 or more to the medical team straight away.",
    "Check equipment servicing labels before use.",
    "Handover must include feeding regimes and pending results.",
)
SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "medication": ("Omitted dose", "Wrong dose", "Prescribing error", "Controlled drugs"),
    "patient_accident": ("Unwitnessed fall", "Witnessed fall", "Slip"),
    "implementation_of_care": ("Hospital acquired – category 2", "Hospital acquired – category 3",
                               "Present on admission"),
    "clinical_assessment": ("Failure to escalate", "Delayed diagnosis"),
    "treatment_procedure": ("Cancelled procedure", "Wrong site"),
    "access_admission_transfer_discharge": ("Discharge", "Transfer", "Delayed handover"),
}
RESULTS_NO_HARM = ("No Harm - Impact prevented", "No Harm - Impact not prevented")
RESULTS_HARM = ("Harm - Impact not prevented",)
DIVISIONS = ("Medicine", "Surgery", "Women’s and Children’s", "Emergency and Urgent Care", "Community Services",
             "Mental Health", "Clinical Support Services")
SPECIALTIES = ("General Medicine", "Elderly Care", "Trauma & Orthopaedics", "General Surgery", "Obstetrics",
               "Paediatrics", "Emergency Medicine", "Cardiology", "Respiratory Medicine", "Adult Mental Health",
               "Stroke Medicine")
IDENTIFIER_SENTENCES = (
    "Pt NHS no {nhs} from {postcode} brought in by ambulance.",
    "Patient (NHS number {nhs}) lives at {postcode}; community team informed.",
    "NHS No: {nhs}, postcode {postcode} – details checked with the patient.",
)
FORENAMES = ("Zoë", "Siân", "Renée", "José", "Chloë", "Margaret", "David", "Aisha", "Tomasz", "Łukasz", "Olivia",
             "Peter", "Grace", "Mohammed", "Jean")
SURNAMES = ("Smith", "O’Brien", "Patel", "Jones", "Nowak", "Wójcik", "Brown", "Khan", "Taylor", "Okafor",
            "Williams", "Murphy")
STREETS = ("High Street", "Rainsford Road", "London Road", "Station Road", "Moulsham Street", "Queen’s Road")
TOWNS = ("Chelmsford", "Basildon", "Southend-on-Sea", "Colchester", "Harlow", "Braintree", "Clacton-on-Sea")
POSTCODE_AREAS = (("CM", 24), ("SS", 17), ("CO", 16), ("RM", 20))
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # letters used in the inward code (never C I K M O V)

OWNER_ROLES = ("Ward Manager", "Matron", "Clinical Lead", "Lead Pharmacist", "Tissue Viability Nurse Specialist",
               "Patient Safety Specialist", "Head of Nursing", "Practice Development Nurse", "Falls Prevention Lead",
               "Clinical Director", "Medical Devices Manager", "Infection Prevention and Control Lead")
ACTION_DESCRIPTIONS = (
    "Share the learning from this incident at the ward safety huddle for two weeks.",
    "Audit falls risk assessments completed within 6 hours of admission – monthly for 3 months.",
    "Update the sepsis screening prompt in the electronic record.",
    "Add a second-checker step for high-risk medicines on the drug round.",
    "Deliver pressure ulcer prevention training to all HCAs on the ward.",
    "Review the discharge checklist so TTOs are confirmed before transport is booked.",
    "Replace the ward’s infusion pumps with the standard model and remove old stock.",
    "Introduce a side-room allocation log reviewed at the bed meeting.",
    "Write to the family with the findings of the review.",
    "Revise the handover template to include feeding regimes.\nTest it on two wards before roll-out.",
)
EFFECTIVENESS = (
    "Monthly audit of 10 sets of notes; target 95% compliance.",
    "Monthly audit of 10 sets of notes; target ≥ 95% compliance.",
    "Reduction in falls per 1,000 bed days over 6 months.",
    "Training compliance report from the education team.",
    "Spot checks by the matron – results to the divisional governance meeting.",
)


# --- data structures -----------------------------------------------------------------------------------------


@dataclass
class _Row:
    """One data row: canonical field -> cell text, plus unmapped extra columns and what was planted in it."""

    values: dict[str, str]
    extras: dict[str, str] = field(default_factory=dict)
    defect: str | None = None
    identifier_text: bool = False
    hidden_date: dt.date = ANCHOR_DATE  # the true date used for ordering, whatever the cell says


@dataclass(frozen=True)
class _Vocab:
    """Vocabulary filtered to what the file's encoding can hold, so encoding never fails half-way."""

    pools: dict[str, tuple[str, ...]]

    def pick(self, rng: random.Random, name: str) -> str:
        pool = self.pools[name]
        return pool[rng.randrange(len(pool))]


def _vocab(encoding: str) -> _Vocab:
    def ok(text: str) -> bool:
        try:
            text.encode(encoding)
        except UnicodeEncodeError:
            return False
        return True

    named: dict[str, Sequence[str]] = {
        "ward": WARDS, "quote": PATIENT_QUOTES, "follow_up": FOLLOW_UPS, "action_taken": ACTIONS_TAKEN,
        "lessons": LESSONS, "division": DIVISIONS, "specialty": SPECIALTIES,
        "forename": FORENAMES, "surname": SURNAMES, "street": STREETS, "town": TOWNS, "owner_role": OWNER_ROLES,
        "action_description": ACTION_DESCRIPTIONS, "effectiveness": EFFECTIVENESS,
        "identifier_sentence": IDENTIFIER_SENTENCES, "generic": GENERIC_NARRATIVES,
        "results_no_harm": RESULTS_NO_HARM, "results_harm": RESULTS_HARM,
    }
    for key, templates in NARRATIVES.items():
        named[f"narrative:{key}"] = templates
    for key, exacts in LOCATIONS.items():
        named[f"location:{key}"] = exacts
    for key, subs in SUBCATEGORIES.items():
        named[f"sub:{key}"] = subs
    pools = {name: tuple(v for v in values if ok(v)) for name, values in named.items()}
    return _Vocab({name: pool for name, pool in pools.items() if pool})


# --- small helpers -------------------------------------------------------------------------------------------


def _scaled(base: int, n: int) -> int:
    """``base`` per BASE_N rows, rounded half up (exact at the default N)."""
    return int(base * n / BASE_N + 0.5)


def nhs_check_digit(first_nine: str) -> int | None:
    """Modulus 11 check digit; None when the remainder makes the number impossible (check would be 10)."""
    check = 11 - sum(int(d) * w for d, w in zip(first_nine, NHS_WEIGHTS, strict=True)) % 11
    return 0 if check == 11 else None if check == 10 else check


def _valid_nhs_number(rng: random.Random) -> str:
    """A valid number in the 999 range the NHS reserves for testing, so demo data can never name a real patient."""
    while True:
        first = NHS_TEST_PREFIX + f"{rng.randrange(10**6):06d}"
        check = nhs_check_digit(first)
        if check is not None:
            return f"{first}{check}"


def _spaced(nhs: str) -> str:
    return f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"


def _postcode(rng: random.Random) -> str:
    area, districts = POSTCODE_AREAS[rng.randrange(len(POSTCODE_AREAS))]
    inward = f"{rng.randrange(10)}{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}"
    return f"{area}{rng.randint(1, districts)} {inward}"


class _Weighted(Generic[T]):
    """A weighted choice with its cumulative weights computed once (the generator draws millions at scale)."""

    def __init__(self, values: Sequence[T], weights: Sequence[float]) -> None:
        self.values = list(values)
        self.cum_weights = list(itertools.accumulate(weights))

    def draw(self, rng: random.Random) -> T:
        return rng.choices(self.values, cum_weights=self.cum_weights)[0]


def _label_chooser(labels: dict[str, str], weights: dict[str, float]) -> _Weighted[str]:
    """Labels from the profile's map, weighted by the national code each maps to."""
    return _Weighted(list(labels), [weights.get(code, 1.0) for code in labels.values()])


HOURS = _Weighted(range(24), (1, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 2, 2, 1))
REPORT_DELAY_DAYS = _Weighted(range(11), (30, 20, 12, 8, 6, 5, 4, 4, 4, 4, 3))
AGE_BANDS = _Weighted((0, 5, 20, 40, 60, 75, 85), (3, 4, 10, 14, 20, 28, 21))  # + 0..14 years
ACTIONS_PER_INCIDENT = _Weighted((0, 1, 2, 3), (10, 35, 40, 15))
LOCATION_TYPES = _Weighted(list(LOCATIONS), LOCATION_WEIGHTS)


@functools.lru_cache(maxsize=8192)
def _format_date(value: dt.date, fmt: str) -> str:
    return value.strftime(fmt)


def _noisy_label(rng: random.Random, label: str, profile: MappingProfile) -> str:
    """Datix quirks that must still map: stray/double spaces, or a deactivated-code prefix the profile strips."""
    roll = rng.random()
    if roll < 0.025:
        return " " + label
    if roll < 0.05:
        return label + " "
    if roll < 0.07:
        return label.replace(" ", "  ", 1) if " " in label else label + "  "
    if roll < 0.085:
        prefixed = DEACTIVATED_PREFIX + label
        if any(p.match(prefixed) for p in profile.label_prefix_patterns):
            return prefixed
    return label


def _bool_word(values: frozenset[str], preferred: tuple[str, ...]) -> str:
    """The profile stores yes/no words case-folded; write the usual one as a person would (``Yes``, ``No``)."""
    for word in preferred:
        if word in values:
            return word.capitalize()
    return sorted(values)[0].capitalize() if values else ""


def _clock(rng: random.Random) -> tuple[int, int]:
    hour = HOURS.draw(rng)
    return hour, rng.randrange(0, 60, 5) if rng.random() < 0.6 else rng.randrange(60)


def _narrative(rng: random.Random, vocab: _Vocab, category_code: str, ward: str) -> str:
    """A clinical narrative; about 40% span several lines, as real "What happened?" text does."""
    key = f"narrative:{category_code}"
    template = vocab.pick(rng, key if key in vocab.pools else "generic")
    drug, dose = DRUGS[rng.randrange(len(DRUGS))]
    hour, minute = _clock(rng)
    slots = {
        "ward": ward, "clock": f"{hour:02d}:{minute:02d}", "drug": drug, "dose": dose,
        "news": str(rng.randint(5, 9)), "delay": str(rng.randint(2, 9)), "bay": str(rng.randint(1, 6)),
        "cat": str(rng.randint(2, 4)), "quote": vocab.pick(rng, "quote"),
    }
    text = template.format_map(slots)
    text = text[0].upper() + text[1:]
    roll = rng.random()
    if roll < 0.25:
        text += "\n" + vocab.pick(rng, "follow_up")
    elif roll < 0.40:
        text += "\n\n" + vocab.pick(rng, "follow_up") + "\n" + vocab.pick(rng, "follow_up")
    elif roll < 0.70:
        text += " " + vocab.pick(rng, "follow_up")
    return text


# --- incidents -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    profile: MappingProfile
    vocab: _Vocab
    display_style: bool  # DatixWeb display-name exports vs field-name (Cloud IQ) exports
    encoding: str
    choosers: dict[str, _Weighted[str]]  # incident code field -> weighted labels
    true_word: str
    false_word: str

    def date(self, value: dt.date) -> str:
        return _format_date(value, self.profile.date_format)

    def label(self, rng: random.Random, fld: str) -> str:
        """A code label for ``fld`` drawn by national-code weight; empty when the profile has no map for it."""
        chooser = self.choosers.get(fld)
        return chooser.draw(rng) if chooser is not None else ""


def _incident_row(rng: random.Random, ctx: _Context, occurred: dt.date) -> _Row:
    """One fully valid incident row (every date in order and in range, every code in the profile's maps)."""
    labels = ctx.profile.entity(INCIDENTS).code_labels
    v: dict[str, str] = {}
    days_left = (ANCHOR_DATE - occurred).days
    reported = occurred + dt.timedelta(days=min(days_left, REPORT_DELAY_DAYS.draw(rng)))
    v["occurred_date"], v["reported_date"] = ctx.date(occurred), ctx.date(reported)
    hour, minute = _clock(rng)
    style = rng.random()
    # Datix sites write HHMM or HH:MM; the time is often left blank.
    v["occurred_time"] = (f"{hour:02d}{minute:02d}" if style < 0.4 else "" if style < 0.48
                          else f"{hour:02d}:{minute:02d}")
    updated = min(reported + dt.timedelta(days=rng.randint(0, 60)), ANCHOR_DATE)
    v["source_updated_at"] = dt.datetime.combine(updated, dt.time(*_clock(rng), rng.randrange(60))).strftime(
        ctx.profile.datetime_format)

    category = ctx.label(rng, "category")
    category_code = labels.get("category", {}).get(category, "")
    harm = ctx.label(rng, "physical_harm")
    harm_code = labels["physical_harm"][harm]
    v["category"] = _noisy_label(rng, category, ctx.profile) if category else ""
    v["physical_harm"] = _noisy_label(rng, harm, ctx.profile)
    sub_key = f"sub:{category_code}"
    v["subcategory"] = ctx.vocab.pick(rng, sub_key) if sub_key in ctx.vocab.pools else ""
    v["result"] = ctx.vocab.pick(rng, "results_no_harm" if harm_code == "5" else "results_harm")
    if harm_code in MODERATE_OR_WORSE:
        v["duty_of_candour"] = ctx.true_word if rng.random() < 0.85 else ctx.false_word
        if v["duty_of_candour"] == ctx.true_word and rng.random() < 0.8:  # notified within three weeks, mostly
            v["duty_of_candour_notified_date"] = ctx.date(min(occurred + dt.timedelta(days=rng.randint(1, 20)),
                                                              ANCHOR_DATE))
    # Never Events are rare: about one in a hundred harmful incidents; every other record says No.
    v["never_event"] = ctx.true_word if harm_code in MODERATE_OR_WORSE and rng.random() < 0.08 else ctx.false_word
    v["division"] = ctx.vocab.pick(rng, "division")
    v["specialty"] = ctx.vocab.pick(rng, "specialty")
    location_type = LOCATION_TYPES.draw(rng)
    ward = ctx.vocab.pick(rng, "ward")
    exact_key = f"location:{location_type}"
    v["location_type"] = _typographic(location_type, ctx)
    v["location_exact"] = ctx.vocab.pick(rng, exact_key) if exact_key in ctx.vocab.pools else ward
    v["description"] = _narrative(rng, ctx.vocab, category_code, ward)
    if rng.random() < 0.8:
        v["action_taken"] = ctx.vocab.pick(rng, "action_taken")
    if rng.random() < 0.4:
        v["lessons_learned"] = ctx.vocab.pick(rng, "lessons")
    v["approval_status"] = APPROVAL_STATUSES[rng.randrange(len(APPROVAL_STATUSES))]

    row = _Row(values=v, hidden_date=reported)
    if category_code not in NO_PATIENT_CATEGORIES:
        _add_patient(rng, ctx, row, occurred)
    return row


def _add_patient(rng: random.Random, ctx: _Context, row: _Row, occurred: dt.date) -> None:
    labels = ctx.profile.entity(INCIDENTS).code_labels
    v = row.values
    if rng.random() < 0.8:
        nhs = _valid_nhs_number(rng)
        v["nhs_number"] = _spaced(nhs) if rng.random() < 0.3 else nhs
    if rng.random() < 0.9:
        age_years = AGE_BANDS.draw(rng) + rng.randint(0, 14)
        dob = occurred - dt.timedelta(days=age_years * 365 + rng.randint(1, 364))
        v["date_of_birth"] = ctx.date(dob)
    if "gender" in labels:
        v["gender"] = _noisy_label(rng, ctx.label(rng, "gender"), ctx.profile)
    if "ethnicity" in labels and rng.random() < 0.92:
        v["ethnicity"] = ctx.label(rng, "ethnicity")
    forename, surname = ctx.vocab.pick(rng, "forename"), ctx.vocab.pick(rng, "surname")
    postcode = _postcode(rng)
    if ctx.display_style:
        name_col, address_col, postcode_col = PII_COLUMNS_DISPLAY
        row.extras[name_col] = f"{forename} {surname}"
        street, town = ctx.vocab.pick(rng, "street"), ctx.vocab.pick(rng, "town")
        row.extras[address_col] = f"{rng.randint(1, 180)} {street}, {town}"
        row.extras[postcode_col] = postcode
    else:
        forename_col, surname_col, postcode_col = PII_COLUMNS_FIELD
        row.extras[forename_col], row.extras[surname_col], row.extras[postcode_col] = forename, surname, postcode


def _plant_incident_defect(rng: random.Random, ctx: _Context, row: _Row, rule_id: str, nth: int) -> bool:
    """Make ``row`` break exactly one rule (and nothing else); False if the profile lacks the field it needs."""
    mapping = ctx.profile.entity(INCIDENTS)
    v = row.values
    if rule_id.startswith("nhs_number."):
        if "nhs_number" not in mapping.columns:
            return False
        nhs = _valid_nhs_number(rng)
        if rule_id == "nhs_number.invalid_check_digit":
            wrong = (int(nhs[9]) + rng.randint(1, 9)) % 10
            bad = nhs[:9] + str(wrong)
            v["nhs_number"] = _spaced(bad) if nth % 2 else bad
        else:
            v["nhs_number"] = f"{int(nhs):.2E}"  # what Excel shows, e.g. 9.99E+09
    elif rule_id == "date.unparseable":
        v["occurred_date"] = UNPARSEABLE_DATES[nth % len(UNPARSEABLE_DATES)]
    elif rule_id == "date.in_future":
        real = _parse(ctx, v["occurred_date"])
        v["occurred_date"] = ctx.date(dt.date(FUTURE_YEAR, real.month, min(real.day, 28)))
        v["reported_date"] = ""  # not required; keeps the row to one in-future date (no second issue)
    elif rule_id == "date.placeholder":
        v["occurred_date"] = ctx.date(PLACEHOLDER_DATE)
        v.pop("date_of_birth", None)  # a real DOB would also be "after" a 1900 incident
    elif rule_id == "code.unknown":
        known = {" ".join(label.split()).casefold() for label in mapping.code_labels["physical_harm"]}
        unknown = [label for label in UNKNOWN_HARM_LABELS if label.casefold() not in known]
        v["physical_harm"] = unknown[nth % len(unknown)]
        v.pop("duty_of_candour", None)
    elif rule_id == "required.missing":
        # At most one empty id per file: several empty ids would also look like one id sent twice.
        v["source_record_id" if nth == 0 else "occurred_date"] = ""
    elif rule_id == "record.rejected_in_source":
        rejected = mapping.rejected_when
        if rejected is None or rejected.field not in mapping.columns:
            return False
        values = sorted(rejected.values)
        v[rejected.field] = values[nth % len(values)]
    else:
        raise ValueError(f"no way to plant {rule_id!r} in incidents")
    row.defect = rule_id
    return True


def _typographic(text: str, ctx: _Context) -> str:
    """Keep a curly apostrophe only where the file's encoding can hold it."""
    try:
        text.encode(ctx.encoding)
    except UnicodeEncodeError:
        return text.replace("’", "'")
    return text


def _parse(ctx: _Context, text: str) -> dt.date:
    return dt.datetime.strptime(text, ctx.profile.date_format).date()


def _record_ids(rng: random.Random, ctx: _Context, n: int) -> list[str]:
    """Ascending, gapped ids (Datix ids are a sequence; a listing skips the records other reports own)."""
    numeric = ctx.display_style
    current = rng.randint(100000, 400000) if numeric else rng.randint(10000, 60000)
    out = []
    for _ in range(n):
        current += rng.randint(1, 4)
        out.append(str(current) if numeric else f"W{current}")
    return out


def _incidents(rng: random.Random, ctx: _Context, ods: str, n: int) -> list[_Row]:
    """``n`` distinct rows (valid plus planted defects) in id order; duplicates are added by the caller."""
    span = (ANCHOR_DATE - WINDOW_START).days
    occurred = sorted(WINDOW_START + dt.timedelta(days=rng.randint(0, span)) for _ in range(n))
    rows = [_incident_row(rng, ctx, d) for d in occurred]
    rows.sort(key=lambda r: r.hidden_date)
    for i, (row, record_id) in enumerate(zip(rows, _record_ids(rng, ctx, n), strict=True)):
        row.values["source_record_id"] = record_id
        row.values["local_reference"] = f"{ods}/{row.hidden_date.year}/{i + 1:05d}"

    plan = [(rule_id, k) for rule_id, base in INCIDENT_DEFECTS.items() for k in range(_scaled(base, n))]
    positions = rng.sample(range(n), min(len(plan), n))
    for (rule_id, k), pos in zip(plan, positions, strict=False):
        _plant_incident_defect(rng, ctx, rows[pos], rule_id, k)

    candidates = [r for r in rows if r.defect is None and "nhs_number" in r.values and r.extras]
    wanted = _scaled(FREE_TEXT_WITH_IDENTIFIERS, n)
    if "description" in ctx.profile.entity(INCIDENTS).columns:
        for k, row in enumerate(rng.sample(candidates, min(wanted, len(candidates)))):
            sentences = ctx.vocab.pools["identifier_sentence"]
            template = sentences[k % len(sentences)]
            postcode = next(value for col, value in row.extras.items() if col in (PII_COLUMNS_DISPLAY[2],
                                                                                   PII_COLUMNS_FIELD[2]))
            nhs = row.values["nhs_number"].replace(" ", "")
            sentence = template.format(nhs=_spaced(nhs) if k % 2 == 0 else nhs, postcode=postcode)
            row.values["description"] = sentence + "\n" + row.values["description"]
            row.identifier_text = True
    return rows


# --- safety actions ------------------------------------------------------------------------------------------


def _safety_actions(rng: random.Random, ctx: _Context, incidents: list[_Row], n_incidents: int) -> list[_Row]:
    """About 1.5 actions per loaded incident, each referencing it by id; all dates between agreed and the anchor."""
    labels = ctx.profile.entity(SAFETY_ACTIONS).code_labels.get("status", {})
    by_code: dict[str, list[str]] = {}
    for label, code in labels.items():
        by_code.setdefault(code, []).append(label)
    codes = sorted(by_code)
    status_weights = [{"open": 45.0, "completed": 45.0, "cancelled": 5.0}.get(c, 5.0) for c in codes]

    drafts: list[tuple[dt.date, str, dict[str, str]]] = []
    for incident in incidents:
        if incident.defect is not None:
            continue
        reported = incident.hidden_date
        room = (ANCHOR_DATE - reported).days
        if room < 2:
            continue  # no time yet to agree an action before the export
        for _ in range(ACTIONS_PER_INCIDENT.draw(rng)):
            agreed = reported + dt.timedelta(days=rng.randint(0, min(30, room - 1)))
            due = agreed + dt.timedelta(days=rng.randint(1, min(120, (ANCHOR_DATE - agreed).days)))
            v: dict[str, str] = {
                "incident_source_record_id": incident.values["source_record_id"],
                "description": ctx.vocab.pick(rng, "action_description"),
                "owner_role": ctx.vocab.pick(rng, "owner_role"),
                "agreed_date": ctx.date(agreed),
                "due_date": ctx.date(due),
                "effectiveness_measure": ctx.vocab.pick(rng, "effectiveness") if rng.random() < 0.7 else "",
                "is_system_wide": ctx.true_word if rng.random() < 0.1 else ctx.false_word,
            }
            if due < ANCHOR_DATE and rng.random() < 0.2:
                v["revised_due_date"] = ctx.date(due + dt.timedelta(days=rng.randint(1, (ANCHOR_DATE - due).days)))
            if codes:
                code = rng.choices(codes, status_weights)[0]
                v["status"] = _noisy_label(rng, rng.choice(by_code[code]), ctx.profile)
                if code == "completed":
                    v["completed_date"] = ctx.date(agreed + dt.timedelta(
                        days=rng.randint(0, (ANCHOR_DATE - agreed).days)))
            drafts.append((agreed, incident.values["source_record_id"], v))
    drafts.sort(key=lambda d: d[0])  # stable: ties keep incident order
    rows = []
    for (agreed, _, v), action_id in zip(drafts, _action_ids(rng, len(drafts)), strict=True):
        v["source_record_id"] = action_id
        rows.append(_Row(values=v, hidden_date=agreed))

    plan = [(rule_id, k) for rule_id, base in ACTION_DEFECTS.items() for k in range(_scaled(base, n_incidents))]
    for (rule_id, k), pos in zip(plan, rng.sample(range(len(rows)), min(len(plan), len(rows))), strict=False):
        _plant_action_defect(ctx, rows[pos], rule_id, k)
    return rows


def _action_ids(rng: random.Random, n: int) -> list[str]:
    current = rng.randint(1000, 9000)
    out = []
    for _ in range(n):
        current += rng.randint(1, 3)
        out.append(str(current))
    return out


def _plant_action_defect(ctx: _Context, row: _Row, rule_id: str, nth: int) -> bool:
    mapping = ctx.profile.entity(SAFETY_ACTIONS)
    v = row.values
    if rule_id == "required.missing":
        v["description"] = ""
    elif rule_id == "code.unknown":
        if "status" not in mapping.code_labels:
            return False
        known = {" ".join(label.split()).casefold() for label in mapping.code_labels["status"]}
        unknown = [label for label in UNKNOWN_STATUS_LABELS if label.casefold() not in known]
        v["status"] = unknown[nth % len(unknown)]
        v.pop("completed_date", None)
    elif rule_id == "date.unparseable":
        if "due_date" not in mapping.columns:
            return False
        v["due_date"] = UNPARSEABLE_DUE_DATES[nth % len(UNPARSEABLE_DUE_DATES)]
        v.pop("revised_due_date", None)
    else:
        raise ValueError(f"no way to plant {rule_id!r} in safety actions")
    row.defect = rule_id
    return True


# --- output --------------------------------------------------------------------------------------------------


def _with_duplicates(rng: random.Random, rows: list[_Row], count: int) -> list[_Row]:
    """Insert byte-identical copies of earlier valid rows a little further down, as a re-run report would."""
    sources = [i for i, r in enumerate(rows) if r.defect is None and not r.identifier_text]
    chosen = sorted(rng.sample(sources, min(count, len(sources))))
    after: dict[int, list[_Row]] = {}
    for i in chosen:
        after.setdefault(min(len(rows) - 1, i + rng.randint(1, 25)), []).append(rows[i])
    out: list[_Row] = []
    for i, row in enumerate(rows):
        out.append(row)
        out.extend(after.get(i, []))
    return out


def _render(layout: list[tuple[str, str | None]], rows: list[_Row], encoding: str) -> bytes:
    """CSV as Datix writes it: minimal quoting, CRLF rows, line breaks kept inside quoted free text."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([column for column, _ in layout])
    for row in rows:
        writer.writerow([row.values.get(fld, "") if fld is not None else row.extras.get(column, "")
                         for column, fld in layout])
    return buf.getvalue().encode(encoding)  # strict: the vocabulary was filtered to what the encoding holds


def _layout(ctx: _Context, entity: str) -> list[tuple[str, str | None]]:
    """(column, canonical field) in file order: the profile's columns, the unmapped PII ones (field None) after
    the NHS number, as a listing report that includes the patient's contact details would have them."""
    layout: list[tuple[str, str | None]] = []
    for fld, col in ctx.profile.entity(entity).columns.items():
        layout.append((col, fld))
        if entity == INCIDENTS and fld == "nhs_number":
            layout.extend((col_name, None) for col_name in (PII_COLUMNS_DISPLAY if ctx.display_style
                                                           else PII_COLUMNS_FIELD))
    return layout


def _file_name(glob: str) -> str:
    if glob.count("*") != 1 or any(c in glob for c in "?[]"):
        raise ValueError(f"cannot name a demo file after the glob {glob!r}: expected exactly one '*'")
    return glob.replace("*", FILE_STAMP)


def _file_entry(out_home: Path, path: Path, encoding: str, rows: list[_Row], duplicates: int,
                rule_order: Sequence[str]) -> dict:
    distinct = [r for r in rows if r.defect is None]
    counts: dict[str, int] = {}
    for r in rows:
        if r.defect is not None:
            counts[r.defect] = counts.get(r.defect, 0) + 1
    by_rule = {rule_id: counts[rule_id] for rule_id in rule_order if rule_id in counts}
    quarantined = sum(by_rule.values())
    try:
        rel = path.relative_to(out_home).as_posix()
    except ValueError:
        rel = str(path)
    return {
        "path": rel,
        "encoding": encoding,
        "rows_in": len(rows) + duplicates,
        "expected_loaded": len(distinct),
        "expected_quarantined": quarantined,
        "expected_duplicates": duplicates,
        "quarantined_by_rule": by_rule,
        "with_nhs_number": sum(1 for r in distinct if r.values.get("nhs_number")),
        "free_text_with_identifiers": sum(1 for r in distinct if r.identifier_text),
    }


def _choosers(profile: MappingProfile) -> dict[str, _Weighted[str]]:
    labels = profile.entity(INCIDENTS).code_labels
    weights = {"category": CATEGORY_WEIGHTS, "physical_harm": HARM_WEIGHTS, "gender": GENDER_WEIGHTS,
               "ethnicity": ETHNICITY_WEIGHTS}
    return {fld: _label_chooser(labels[fld], w) for fld, w in weights.items() if labels.get(fld)}


def generate_provider(out_home: Path, provider: Provider, profile: MappingProfile, *, seed: int = DEFAULT_SEED,
                      incidents_per_provider: int = BASE_N) -> dict:
    """Write one provider's incidents and safety-actions files; return its manifest entry."""
    display_style = "web" in profile.source_system.lower()
    encoding = "cp1252" if display_style else "utf-8-sig"
    ctx = _Context(profile=profile, vocab=_vocab(encoding), display_style=display_style, encoding=encoding,
                   choosers=_choosers(profile),
                   true_word=_bool_word(profile.true_values, ("yes", "y", "true")),
                   false_word=_bool_word(profile.false_values, ("no", "n", "false")))
    # One stream per provider and entity: adding a provider or changing one file leaves the others unchanged.
    rng_inc = random.Random(f"{seed}:{provider.ods_code}:{INCIDENTS}")
    rng_act = random.Random(f"{seed}:{provider.ods_code}:{SAFETY_ACTIONS}")

    incidents = _incidents(rng_inc, ctx, provider.ods_code, incidents_per_provider)
    actions = (_safety_actions(rng_act, ctx, incidents, incidents_per_provider)
               if SAFETY_ACTIONS in profile.entities else [])
    builds: list[tuple[str, list[_Row], int, Sequence[str]]] = [
        (INCIDENTS, incidents, _scaled(INCIDENT_DUPLICATES, incidents_per_provider), list(INCIDENT_DEFECTS)),
        (SAFETY_ACTIONS, actions, _scaled(ACTION_DUPLICATES, incidents_per_provider), list(ACTION_DEFECTS)),
    ]
    files: dict[str, dict] = {}
    provider.feed.path.mkdir(parents=True, exist_ok=True)
    for entity, rows, n_dup, rule_order in builds:
        if entity not in profile.entities or entity not in provider.feed.globs:
            continue
        rng_dup = random.Random(f"{seed}:{provider.ods_code}:{entity}:duplicates")
        written = _with_duplicates(rng_dup, rows, n_dup)
        path = provider.feed.path / _file_name(provider.feed.globs[entity])
        path.write_bytes(_render(_layout(ctx, entity), written, encoding))
        files[entity] = _file_entry(out_home, path, encoding, rows, len(written) - len(rows), rule_order)
    return {"profile": profile.name, "files": files}


def generate_demo_feeds(out_home: Path, providers: list[Provider] | None = None, *, seed: int = DEFAULT_SEED,
                        incidents_per_provider: int = BASE_N, profiles_dir: Path | None = None) -> dict:
    """Write every provider's demo exports under ``out_home`` plus ``demo_feeds/manifest.json``; return the manifest.

    ``rows_in = expected_loaded + expected_quarantined + expected_duplicates`` for every file, and each
    quarantined row breaks exactly one rule, so a pipeline run over these files can be checked count for count.
    """
    if incidents_per_provider < 1:
        raise ValueError("incidents_per_provider must be at least 1")
    out_home = Path(out_home)
    if providers is None:
        providers = load_registry(settings.registry_path(), home=out_home)
    profiles_dir = profiles_dir or settings.profiles_dir()
    profiles: dict[str, MappingProfile] = {}
    manifest: dict = {"seed": seed, "anchor_date": ANCHOR_DATE.isoformat(), "providers": {}}
    for provider in providers:
        if provider.profile not in profiles:
            profiles[provider.profile] = load_profile(provider.profile, profiles_dir)
        manifest["providers"][provider.ods_code] = generate_provider(
            out_home, provider, profiles[provider.profile], seed=seed, incidents_per_provider=incidents_per_provider)
    manifest_path = out_home / "demo_feeds" / "manifest.json"
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def summary_lines(manifest: dict) -> list[str]:
    """One line per provider, for people running the generator by hand."""
    lines = []
    for ods, entry in manifest["providers"].items():
        parts = []
        for entity, f in entry["files"].items():
            parts.append(f"{entity} {f['rows_in']} rows ({f['expected_loaded']} valid, {f['expected_quarantined']} "
                         f"quarantined, {f['expected_duplicates']} duplicates) -> {f['path']}")
        lines.append(f"{ods} [{entry['profile']}]: " + "; ".join(parts))
    return lines


def main(argv: Sequence[str] | None = None, echo: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.feeds",
        description="Write deterministic Datix-style demo exports for every registered provider.")
    parser.add_argument("out_home", nargs="?", type=Path, default=None,
                        help="where to write (default: $PSIRF_HOME, else ./var)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--incidents-per-provider", type=int, default=BASE_N)
    args = parser.parse_args(argv)
    out_home = args.out_home or settings.psirf_home()
    manifest = generate_demo_feeds(out_home, seed=args.seed, incidents_per_provider=args.incidents_per_provider)
    for line in summary_lines(manifest):
        echo(line)
    echo(f"manifest: {out_home / 'demo_feeds' / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
