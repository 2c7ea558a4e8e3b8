"""The canonical *input* fields a mapping profile can map a source column to, per entity, with their kind.

The warehouse columns they become are defined in :mod:`warehouse.models`; this catalogue says how each
source value is read (which parser, whether it is required, whether it is free text or an identifier).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class FieldKind(Enum):
    TEXT = "text"  # short label, whitespace-normalised, kept verbatim
    FREE_TEXT = "free_text"  # narrative: line breaks kept, identifiers redacted
    CODE = "code"  # local label mapped to a national code via the profile; label kept as *_source
    DATE = "date"  # parsed with the profile's explicit date_format, never guessed
    DATETIME = "datetime"
    TIME = "time"  # HHMM or HH:MM
    BOOL = "bool"  # profile's true_values / false_values
    INT = "int"  # whole number
    NHS_NUMBER = "nhs_number"  # validated (modulus 11) then pseudonymised; never leaves the transform
    DATE_OF_BIRTH = "date_of_birth"  # becomes age at incident; never leaves the transform


@dataclass(frozen=True)
class FieldSpec:
    kind: FieldKind
    required: bool = False
    description: str = ""


INCIDENT_FIELDS: dict[str, FieldSpec] = {
    "source_record_id": FieldSpec(FieldKind.TEXT, True, "The record's id in the source system"),
    "local_reference": FieldSpec(FieldKind.TEXT),
    "event_type": FieldSpec(FieldKind.CODE, description="Defaults to 'incident' when not mapped"),
    "occurred_date": FieldSpec(FieldKind.DATE, True),
    "occurred_time": FieldSpec(FieldKind.TIME),
    "reported_date": FieldSpec(FieldKind.DATE),
    "category": FieldSpec(FieldKind.CODE),
    "subcategory": FieldSpec(FieldKind.TEXT),
    "physical_harm": FieldSpec(FieldKind.CODE, True),
    "psychological_harm": FieldSpec(FieldKind.CODE),
    "result": FieldSpec(FieldKind.TEXT),
    "division": FieldSpec(FieldKind.TEXT),
    "specialty": FieldSpec(FieldKind.TEXT),
    "location_type": FieldSpec(FieldKind.TEXT),
    "location_exact": FieldSpec(FieldKind.TEXT),
    "description": FieldSpec(FieldKind.FREE_TEXT),
    "action_taken": FieldSpec(FieldKind.FREE_TEXT),
    "lessons_learned": FieldSpec(FieldKind.FREE_TEXT),
    "duty_of_candour": FieldSpec(FieldKind.BOOL),
    "duty_of_candour_notified_date": FieldSpec(FieldKind.DATE, description="When the patient or family was notified"),
    "never_event": FieldSpec(FieldKind.BOOL),
    "approval_status": FieldSpec(FieldKind.TEXT),
    "source_updated_at": FieldSpec(FieldKind.DATETIME),
    "never_event_type": FieldSpec(FieldKind.CODE),
    "serious_incident": FieldSpec(FieldKind.BOOL),
    "cqc_notify": FieldSpec(FieldKind.BOOL),
    "hsib_notify": FieldSpec(FieldKind.BOOL),
    "is_anonymous": FieldSpec(FieldKind.BOOL),
    "data_sharing_opt_out": FieldSpec(FieldKind.BOOL, description="Patient details withheld when true"),
    "taxonomy_version": FieldSpec(FieldKind.TEXT),
    "organisation_ods": FieldSpec(FieldKind.TEXT, description="Where it happened (ODS), '|' between several"),
    "service_area": FieldSpec(FieldKind.TEXT),
    "is_deleted": FieldSpec(FieldKind.BOOL, description="True marks a deletion upstream"),
    # Patient fields. Map `patient_sequence` when the source has one row per (incident, patient).
    "patient_sequence": FieldSpec(FieldKind.INT),
    "nhs_number": FieldSpec(FieldKind.NHS_NUMBER),
    "date_of_birth": FieldSpec(FieldKind.DATE_OF_BIRTH),
    "age_at_incident_days": FieldSpec(FieldKind.INT, description="When the source sends age, not date of birth"),
    "age_bracket": FieldSpec(FieldKind.CODE),
    "gender": FieldSpec(FieldKind.CODE),
    "ethnicity": FieldSpec(FieldKind.CODE),
    "strength_of_association": FieldSpec(FieldKind.CODE),
    "clinical_outcome": FieldSpec(FieldKind.FREE_TEXT),
}

PATIENT_FIELDS = frozenset({"patient_sequence", "nhs_number", "date_of_birth", "age_at_incident_days",
                            "age_bracket", "gender", "ethnicity", "strength_of_association", "clinical_outcome",
                            "psychological_harm"})

SAFETY_ACTION_FIELDS: dict[str, FieldSpec] = {
    "source_record_id": FieldSpec(FieldKind.TEXT, True),
    "incident_source_record_id": FieldSpec(FieldKind.TEXT),
    "learning_response_source_record_id": FieldSpec(FieldKind.TEXT),
    "description": FieldSpec(FieldKind.FREE_TEXT, True),
    "owner_role": FieldSpec(FieldKind.TEXT),
    "owning_org_ods": FieldSpec(FieldKind.TEXT),
    "agreed_date": FieldSpec(FieldKind.DATE),
    "due_date": FieldSpec(FieldKind.DATE),
    "revised_due_date": FieldSpec(FieldKind.DATE),
    "completed_date": FieldSpec(FieldKind.DATE),
    "status": FieldSpec(FieldKind.CODE, True),
    "effectiveness_measure": FieldSpec(FieldKind.FREE_TEXT),
    "is_system_wide": FieldSpec(FieldKind.BOOL),
    "source_updated_at": FieldSpec(FieldKind.DATETIME),
    "is_deleted": FieldSpec(FieldKind.BOOL),
}

LEARNING_RESPONSE_FIELDS: dict[str, FieldSpec] = {
    "source_record_id": FieldSpec(FieldKind.TEXT, True),
    "response_type": FieldSpec(FieldKind.CODE, True, "psii | aar | swarm | mdt | thematic | local | none"),
    "commissioned_date": FieldSpec(FieldKind.DATE),
    "due_date": FieldSpec(FieldKind.DATE),
    "completed_date": FieldSpec(FieldKind.DATE),
    "status": FieldSpec(FieldKind.CODE, True, "open | completed | cancelled"),
    "patient_family_involved": FieldSpec(FieldKind.BOOL),
    "staff_involved": FieldSpec(FieldKind.BOOL),
    "incident_source_record_ids": FieldSpec(FieldKind.TEXT, description="Incidents covered, separated by ; or |"),
    "source_updated_at": FieldSpec(FieldKind.DATETIME),
    "is_deleted": FieldSpec(FieldKind.BOOL),
}

ENTITY_FIELDS: dict[str, dict[str, FieldSpec]] = {
    "incidents": INCIDENT_FIELDS,
    "safety_actions": SAFETY_ACTION_FIELDS,
    "learning_responses": LEARNING_RESPONSE_FIELDS,
}
