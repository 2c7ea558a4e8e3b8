"""The rule catalogue: every check a batch goes through, with a plain-English description and a fix.

Rule ids are stable: they are stored in the quarantine and results tables and shown to providers. ``severity``
says what a failure does: ``error`` holds the row back (quarantine) or, for a whole-batch rule, rejects the batch;
``warning`` loads the row but measures and reports the problem so the provider can fix it at source.

Consistency "occurred <= reported <= loaded" and "action completed >= agreed" are the blocking ``date.order`` and
``date.in_future`` rules (a row that breaks them cannot be trusted for reporting).
"""

from __future__ import annotations

from dataclasses import dataclass

DIMENSIONS = ("completeness", "validity", "consistency", "timeliness", "uniqueness")


@dataclass(frozen=True)
class Rule:
    rule_id: str
    dimension: str  # completeness | validity | consistency | timeliness | uniqueness
    description: str
    how_to_fix: str
    severity: str = "error"  # error: quarantines the row (or rejects the batch) | warning: reported only


RULES: dict[str, Rule] = {r.rule_id: r for r in [
    Rule("row.malformed", "validity", "The row has a different number of fields from the header.",
         "Check for an unquoted comma or line break in a text field; re-export the file from the source system."),
    Rule("field.too_long", "validity",
         "A field is longer than the limit for a single value (1 MiB of text by default), so its row is held back.",
         "Check the field in the source record (a pasted document or a broken export); shorten it and send again."),
    Rule("text.too_long", "validity",
         "A short text field (a location, reference, role or label) is longer than the warehouse column allows.",
         "Shorten the value in the source system, or move the detail to a free-text field."),
    Rule("required.missing", "completeness", "A required field is empty.",
         "Fill in the field in the source system before the next export."),
    Rule("date.unparseable", "validity", "A date is not in the agreed day/month/year layout or is not a real date.",
         "Record the date as dd/mm/yyyy (e.g. 03/04/2024 for 3 April 2024)."),
    Rule("date.placeholder", "validity", "A date before 1990 looks like a placeholder, not a real date.",
         "Replace the placeholder with the real date, or leave the field empty if unknown."),
    Rule("date.in_future", "validity", "A date is later than the date the data was extracted.",
         "Correct the date: an incident cannot be dated in the future."),
    Rule("date.order", "consistency", "Dates are in an impossible order (e.g. reported before it occurred).",
         "Check both dates in the source record and correct the wrong one."),
    Rule("time.unparseable", "validity", "A time is not HHMM or HH:MM within a day.",
         "Record the time as 24-hour HH:MM (e.g. 14:30)."),
    Rule("bool.unparseable", "validity", "A yes/no field holds something other than yes or no.",
         "Use Yes or No."),
    Rule("code.unknown", "validity", "A coded value is not in the agreed code list for this provider.",
         "Use a current value from the code list, or ask the ICB data team to add the new local value to the "
         "mapping profile."),
    Rule("nhs_number.bad_format", "validity", "The NHS number is not 10 digits.",
         "Record the 10-digit NHS number (spaces allowed, e.g. 943 476 5919) or leave it empty if unknown."),
    Rule("nhs_number.scientific_notation", "validity",
         "The NHS number was turned into scientific notation (e.g. 9.43E+09) by a spreadsheet; the digits are lost.",
         "Re-export from the source system without opening the file in Excel, or format the column as text."),
    Rule("nhs_number.invalid_check_digit", "validity", "The NHS number fails the modulus 11 check digit.",
         "Check the NHS number against the patient's record (a digit is probably mistyped)."),
    Rule("dob.after_incident", "consistency", "The date of birth is after the incident date.",
         "Correct the date of birth or the incident date."),
    Rule("dob.implausible", "validity", "The date of birth gives an age at incident over 125 years.",
         "Correct the date of birth (placeholder dates such as 01/01/1900 are often the cause)."),
    Rule("batch.empty", "completeness", "The file has no data rows.",
         "Check the export's filters and date range, then export again."),
    Rule("number.unparseable", "validity", "A number field holds something other than a whole number.",
         "Record the value as a whole number (digits only)."),
    Rule("record.incomplete", "consistency",
         "Another row of the same record (e.g. another patient of the same event) failed a rule, so the record is "
         "held back whole.", "Fix the other row's problem; this row loads with it."),
    Rule("record.rejected_in_source", "validity", "The source system marks this record as rejected.",
         "No action needed if the rejection is right; otherwise approve the record in the source system."),
    Rule("record.conflicting_duplicate", "uniqueness",
         "The same record id appears more than once in the file with different content.",
         "Export each record once; check which version is right."),
    # --- whole-file (raw) checks ------------------------------------------------------------------------------
    Rule("raw.column_missing", "completeness", "A column the agreed export layout needs is missing from the file.",
         "Add the column to the export's report layout with exactly this name (or tell the ICB data team if it "
         "was renamed on purpose), then send the file again."),
    Rule("raw.unreadable", "validity",
         "The file cannot be read: its character encoding is not UTF-8, Windows-1252 or UTF-16 (with a byte-order "
         "mark), or it is not a valid CSV.",
         "Export the report again as CSV (UTF-8) straight from the source system, without editing it by hand."),
    Rule("raw.row_count_unusual", "completeness",
         "The file has far fewer or far more rows than your recent files.",
         "Check the export's date range and filters; if the change in volume is real, no action is needed.",
         "warning"),
    Rule("batch.too_many_invalid", "validity",
         "So many rows failed a check that the whole file was held back.",
         "Fix the most common problems listed in this report (the export layout or a code list has probably "
         "changed) and send the file again."),
    # --- warnings: loaded, but measured and reported -----------------------------------------------------------
    Rule("expected.missing", "completeness",
         "A field that is optional but expected for reporting and learning is empty.",
         "Complete the field in the source system when the information is known.", "warning"),
    Rule("ods.bad_format", "validity",
         "An organisation code is not a valid ODS code (trusts: R + 2 characters; GP practices: letter + 5 digits).",
         "Use the organisation's ODS code from the NHS ODS directory, e.g. RAJ.", "warning"),
    Rule("ods.unknown", "validity", "An organisation code is not an organisation known to the ICB.",
         "Check the ODS code; if the organisation is new, ask the ICB data team to add it.", "warning"),
    Rule("candour.not_recorded", "consistency",
         "Harm is moderate or worse, but Duty of Candour is not recorded as applying.",
         "Record Duty of Candour for the incident (it is notifiable when harm is moderate, severe or death); if you "
         "judged it not to apply, check the harm grading.", "warning"),
    Rule("action.completion_inconsistent", "consistency",
         "The action's status and completed date disagree (completed without a date, or a date on an open action).",
         "Set the status and the completed date together when the action is signed off.", "warning"),
    Rule("never_event.no_response", "consistency",
         "A Never Event has no Patient Safety Incident Investigation (PSII) or other learning response linked to it.",
         "Commission a PSII (or record the referral) and link it to the incident.", "warning"),
    Rule("local_reference.nhs_number", "validity",
         "The local reference is a valid NHS number, so it was withheld (not loaded); the incident itself loaded.",
         "Put the incident's own reference in this field, never the patient's NHS number, and correct the record.",
         "warning"),
    Rule("timeliness.reported_late", "timeliness",
         "The incident was reported later than the agreed number of days after it occurred.",
         "Report incidents as soon as possible after they happen; check for a backlog of unsubmitted reports.",
         "warning"),
    Rule("action.overdue", "timeliness", "The action is past its (revised) due date and is not completed.",
         "Complete the action, or agree and record a revised due date.", "warning"),
    # --- LFPSE FHIR: records the reader cannot turn into rows (quarantined), and what it read leniently ---------
    Rule("fhir.invalid_json", "validity",
         "A line of an NDJSON file (or a Bundle entry) is not valid JSON or not a JSON object.",
         "Re-export the file from LFPSE without editing it; every line must hold one complete FHIR resource."),
    Rule("fhir.not_adverse_event", "validity",
         "The record is a valid FHIR resource, but not an AdverseEvent (e.g. a Patient or OperationOutcome).",
         "Export only AdverseEvent resources for the LFPSE feed; patients belong inside their event."),
    Rule("fhir.not_lfpse", "validity",
         "The AdverseEvent has no LFPSE profile (patient-safety-adverse-event-N) and no LFPSE extensions.",
         "Send only records exported from LFPSE; events from other FHIR systems need their own feed."),
    Rule("fhir.unsupported_taxonomy", "validity",
         "The record uses an LFPSE taxonomy version the ICB has no mapping profile for.",
         "Tell the ICB data team which taxonomy version the export uses so a mapping profile can be added; "
         "then send the file again."),
    Rule("fhir.mixed_taxonomy", "validity",
         "The record's extensions name a different taxonomy version from its profile (or from each other).",
         "Re-export the record from LFPSE; a record must use one taxonomy version throughout."),
    Rule("fhir.missing_element", "validity",
         "An element the ICB cannot load the record without is missing: the resource id (matches updates and "
         "deletions), the event type (type.coding.code, or the STU3 category AE/PAE), ReferenceNumber (the "
         "reference you quote), DataSharingOptOut (whether the patient's details may be kept), each patient's "
         "PatientSequence (harm is per patient), or a deletion's url and time.",
         "Add the element named in the report to the record (or re-export it from LFPSE) and send it again."),
    Rule("fhir.invalid_value", "validity",
         "An element holds a value of the wrong shape (e.g. a single-valued item sent twice, a patient sequence "
         "used twice, a timestamp without a time zone).",
         "Re-export the record from LFPSE; if it still fails, send the record id to the ICB data team."),
    Rule("fhir.unsupported_entry", "validity",
         "A Bundle entry asks for an operation that cannot be applied to a record (e.g. PATCH, conditional delete).",
         "Send full records (PUT/POST) and deletions as DELETE AdverseEvent/<id>."),
    Rule("fhir.version_time_fallback", "completeness",
         "The record has no meta.lastUpdated, so its version time was taken from the Bundle's timestamp, or else "
         "from the export file's time; the record loaded.",
         "Include meta.lastUpdated in the export if your system can: it decides which version of a record is the "
         "newest.", "warning"),
    Rule("fhir.event_type_from_category", "completeness",
         "The record has no type.coding.code, so its event type was read from the STU3 category (AE: incident, "
         "PAE: risk); the record loaded.",
         "Include the LFPSE event type (type.coding.code: incident, outcome, risk or goodCare) if your system "
         "can.", "warning"),
    # --- Excel and REST: the raw layer of the other families -------------------------------------------------
    Rule("raw.sheet_missing", "completeness", "The workbook has no sheet with the agreed name for this entity.",
         "Name the sheet as agreed (see the registry's [provider.feed.sheets]) and send the workbook again."),
    Rule("api.field_absent", "completeness",
         "Some records from the API do not carry a field the agreed layout needs (the key is absent, not empty).",
         "Ask the API's supplier to return every field on every record (null when there is no value).",
         "warning"),
    # --- warehouse checks (after loading, over everything held for the provider) -------------------------------
    Rule("warehouse.orphan_action", "consistency",
         "A safety action refers to an incident that is not in the warehouse.",
         "Send the incident the action belongs to, or correct the incident id on the action.", "warning"),
    Rule("warehouse.reference_unresolved", "consistency",
         "A record refers to another record (e.g. a patient to its incident) that is not in the warehouse.",
         "Nothing for the provider to fix: the ICB data team investigates.", "error"),
]}


class RuleId(str):
    """A rule id taken from the catalogue (:class:`R`): code emits these, never a rule id typed as a string."""

    @property
    def rule(self) -> Rule:
        return RULES[self]


class R:
    """Every rule of the catalogue by name: ``R.CODE__UNKNOWN`` is ``"code.unknown"``. A misspelt name fails at
    import (AttributeError), not as a rule id nobody recognises; a test checks that no product code spells a rule id
    as a string."""

    ACTION__COMPLETION_INCONSISTENT = RuleId("action.completion_inconsistent")
    ACTION__OVERDUE = RuleId("action.overdue")
    API__FIELD_ABSENT = RuleId("api.field_absent")
    BATCH__EMPTY = RuleId("batch.empty")
    BATCH__TOO_MANY_INVALID = RuleId("batch.too_many_invalid")
    BOOL__UNPARSEABLE = RuleId("bool.unparseable")
    CANDOUR__NOT_RECORDED = RuleId("candour.not_recorded")
    CODE__UNKNOWN = RuleId("code.unknown")
    DATE__IN_FUTURE = RuleId("date.in_future")
    DATE__ORDER = RuleId("date.order")
    DATE__PLACEHOLDER = RuleId("date.placeholder")
    DATE__UNPARSEABLE = RuleId("date.unparseable")
    DOB__AFTER_INCIDENT = RuleId("dob.after_incident")
    DOB__IMPLAUSIBLE = RuleId("dob.implausible")
    EXPECTED__MISSING = RuleId("expected.missing")
    FHIR__EVENT_TYPE_FROM_CATEGORY = RuleId("fhir.event_type_from_category")
    FHIR__INVALID_JSON = RuleId("fhir.invalid_json")
    FHIR__INVALID_VALUE = RuleId("fhir.invalid_value")
    FHIR__MISSING_ELEMENT = RuleId("fhir.missing_element")
    FHIR__MIXED_TAXONOMY = RuleId("fhir.mixed_taxonomy")
    FHIR__NOT_ADVERSE_EVENT = RuleId("fhir.not_adverse_event")
    FHIR__NOT_LFPSE = RuleId("fhir.not_lfpse")
    FHIR__UNSUPPORTED_ENTRY = RuleId("fhir.unsupported_entry")
    FHIR__UNSUPPORTED_TAXONOMY = RuleId("fhir.unsupported_taxonomy")
    FHIR__VERSION_TIME_FALLBACK = RuleId("fhir.version_time_fallback")
    FIELD__TOO_LONG = RuleId("field.too_long")
    LOCAL_REFERENCE__NHS_NUMBER = RuleId("local_reference.nhs_number")
    NEVER_EVENT__NO_RESPONSE = RuleId("never_event.no_response")
    NHS_NUMBER__BAD_FORMAT = RuleId("nhs_number.bad_format")
    NHS_NUMBER__INVALID_CHECK_DIGIT = RuleId("nhs_number.invalid_check_digit")
    NHS_NUMBER__SCIENTIFIC_NOTATION = RuleId("nhs_number.scientific_notation")
    NUMBER__UNPARSEABLE = RuleId("number.unparseable")
    ODS__BAD_FORMAT = RuleId("ods.bad_format")
    ODS__UNKNOWN = RuleId("ods.unknown")
    RAW__COLUMN_MISSING = RuleId("raw.column_missing")
    RAW__ROW_COUNT_UNUSUAL = RuleId("raw.row_count_unusual")
    RAW__SHEET_MISSING = RuleId("raw.sheet_missing")
    RAW__UNREADABLE = RuleId("raw.unreadable")
    RECORD__CONFLICTING_DUPLICATE = RuleId("record.conflicting_duplicate")
    RECORD__INCOMPLETE = RuleId("record.incomplete")
    RECORD__REJECTED_IN_SOURCE = RuleId("record.rejected_in_source")
    REQUIRED__MISSING = RuleId("required.missing")
    ROW__MALFORMED = RuleId("row.malformed")
    TEXT__TOO_LONG = RuleId("text.too_long")
    TIME__UNPARSEABLE = RuleId("time.unparseable")
    TIMELINESS__REPORTED_LATE = RuleId("timeliness.reported_late")
    WAREHOUSE__ORPHAN_ACTION = RuleId("warehouse.orphan_action")
    WAREHOUSE__REFERENCE_UNRESOLVED = RuleId("warehouse.reference_unresolved")


_NAMED = {v for v in vars(R).values() if isinstance(v, RuleId)}
if set(RULES) != _NAMED:  # every rule named, and nothing named that is not a rule
    raise RuntimeError(f"expectations.rules.R and RULES differ: {sorted(_NAMED ^ set(RULES))}")


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]


def require(rule_id: str) -> str:
    """``rule_id``, checked against the catalogue (for code that emits a rule id: an unknown id fails loudly)."""
    if rule_id not in RULES:
        raise KeyError(f"rule {rule_id!r} is not in the catalogue (expectations/rules.py)")
    return rule_id


def describe(rule_id: str) -> Rule:
    """The rule, or a stand-in for an id not in the catalogue (so a report never fails on a new rule id)."""
    return RULES.get(rule_id) or Rule(rule_id, "validity", rule_id, "Ask the ICB data team.")
