"""The rule catalogue: every reason a row can be quarantined, with a plain-English description and a fix.

Rule ids are stable: they are stored in the quarantine table and shown to providers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    rule_id: str
    dimension: str  # completeness | validity | consistency | timeliness | uniqueness
    description: str
    how_to_fix: str


RULES: dict[str, Rule] = {r.rule_id: r for r in [
    Rule("row.malformed", "validity", "The row has a different number of fields from the header.",
         "Check for an unquoted comma or line break in a text field; re-export the file from the source system."),
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
    Rule("record.rejected_in_source", "validity", "The source system marks this record as rejected.",
         "No action needed if the rejection is right; otherwise approve the record in the source system."),
    Rule("record.conflicting_duplicate", "uniqueness",
         "The same record id appears more than once in the file with different content.",
         "Export each record once; check which version is right."),
]}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]
