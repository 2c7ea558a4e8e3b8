"""Redaction of identifiers from free text before it leaves the transform step.

Narratives ("What happened?") are written by staff and often contain NHS numbers, postcodes, phone numbers
or dates of birth. We cannot find every name, but we remove the identifiers that have a recognisable shape.
"""

from __future__ import annotations

import re

_NHS_LIKE = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)")
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<!\d)(?:\+44\s?|0)\d{2,4}[\s-]?\d{3,4}[\s-]?\d{3,4}(?!\d)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_DOB = re.compile(r"\b(?:dob|d\.o\.b\.?|date of birth)\s*:?\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}", re.IGNORECASE)


def redact(text: str) -> str:
    """Replace NHS-number-like digit runs, postcodes, phone numbers, e-mail addresses and DOBs with tags."""
    text = _DOB.sub("[DOB REDACTED]", text)
    text = _EMAIL.sub("[EMAIL REDACTED]", text)
    text = _NHS_LIKE.sub("[NUMBER REDACTED]", text)
    text = _PHONE.sub("[PHONE REDACTED]", text)
    return _POSTCODE.sub("[POSTCODE REDACTED]", text)
