"""Redaction of identifiers from free text before it leaves the transform step.

Narratives ("What happened?") are written by staff and often contain NHS numbers, postcodes, phone numbers
or dates of birth. We cannot find every name, but we remove the identifiers that have a recognisable shape.
"""

from __future__ import annotations

import re

import pandas as pd

_NHS_LIKE = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)")
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<!\d)(?:\+44\s?|0)\d{2,4}[\s-]?\d{3,4}[\s-]?\d{3,4}(?!\d)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_DOB = re.compile(r"\b(?:dob|d\.o\.b\.?|date of birth)\s*:?\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}", re.IGNORECASE)
_MAY_HOLD_IDENTIFIER = r"[0-9@]"  # every pattern above needs a digit, or an @ for e-mail addresses


def redact(text: str) -> str:
    """Replace NHS-number-like digit runs, postcodes, phone numbers, e-mail addresses and DOBs with tags."""
    text = _DOB.sub("[DOB REDACTED]", text)
    text = _EMAIL.sub("[EMAIL REDACTED]", text)
    text = _NHS_LIKE.sub("[NUMBER REDACTED]", text)
    text = _PHONE.sub("[PHONE REDACTED]", text)
    return _POSTCODE.sub("[POSTCODE REDACTED]", text)


def redact_column(values: pd.Series) -> pd.Series:
    """:func:`redact` over a column, running the patterns only on values that could hold an identifier (a
    vectorised pre-filter: most narratives have no digit and no @)."""
    values = values.astype("string")
    candidates = values.str.contains(_MAY_HOLD_IDENTIFIER, regex=True).fillna(False).astype(bool)
    if not candidates.any():
        return values
    out = values.copy()
    out[candidates] = pd.array([redact(v) for v in values[candidates].tolist()], dtype="string")
    return out
