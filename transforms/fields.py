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
    "never_event": FieldSpec(FieldKind.BOOL),
    "approval_status": FieldSpec(FieldKind.TEXT),
    "source_updated_at": FieldSpec(FieldKind.DATETIME),
    "nhs_number": FieldSpec(FieldKind.NHS_NUMBER),
    "date_of_birth": FieldSpec(FieldKind.DATE_OF_BIRTH),
    "gender": FieldSpec(FieldKind.CODE),
    "ethnicity": FieldSpec(FieldKind.CODE),
}

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
}

ENTITY_FIELDS: dict[str, dict[str, FieldSpec]] = {
    "incidents": INCIDENT_FIELDS,
    "safety_actions": SAFETY_ACTION_FIELDS,
}
