"""NHS number validation (modulus 11) and keyed pseudonymisation.

NHS numbers have only ~10^9 values, so a plain or salted hash can be reversed by brute force. The pseudonym is
a keyed HMAC-SHA-256 whose key lives outside the data (Airflow connection or environment variable): without
the key the pseudonym cannot be recomputed, and the same patient gets the same pseudonym across providers.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from expectations.rules import R

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")
_SPACING = re.compile(r"[\s-]")


def check_digit(first_nine: str) -> int | None:
    """The modulus 11 check digit for nine digits, or None when no valid check digit exists (remainder 1)."""
    total = sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def is_valid(nhs_number: str) -> bool:
    """True for exactly 10 digits whose last digit is the modulus 11 check digit of the first nine."""
    if len(nhs_number) != 10 or not nhs_number.isdigit():
        return False
    return check_digit(nhs_number[:9]) == int(nhs_number[9])


def classify(raw: str) -> tuple[str | None, str | None]:
    """Return ``(digits, None)`` for a valid NHS number or ``(None, rule_id)`` saying why it is not one.

    Accepts the usual ``943 476 5919`` spacing. Excel's scientific notation (``9.43E+09``) is rejected, never
    repaired: the lost digits cannot be recovered.
    """
    text = raw.strip()
    if _SCIENTIFIC.match(text):
        return None, R.NHS_NUMBER__SCIENTIFIC_NOTATION
    digits = _SPACING.sub("", text)
    if len(digits) != 10 or not digits.isdigit():
        return None, R.NHS_NUMBER__BAD_FORMAT
    if not is_valid(digits):
        return None, R.NHS_NUMBER__INVALID_CHECK_DIGIT
    return digits, None


def describe(raw: str, rule_id: str) -> str:
    """Say what was wrong with an NHS number without repeating it (the quarantine never holds identifiers)."""
    text = raw.strip()
    digits = _SPACING.sub("", text)
    if rule_id == R.NHS_NUMBER__SCIENTIFIC_NOTATION:
        return "a number in scientific notation (digits lost)"
    if rule_id == R.NHS_NUMBER__INVALID_CHECK_DIGIT:
        return "10 digits whose check digit does not match"
    n_digits = sum(c.isdigit() for c in digits)
    return f"{len(digits)} characters, {n_digits} of them digits"


def pseudonymise(nhs_number: str, key: bytes) -> str:
    """Keyed HMAC-SHA-256 of the 10-digit NHS number, as 64 hex characters."""
    return hmac.new(key, nhs_number.encode("ascii"), hashlib.sha256).hexdigest()
