"""How the tests look for patient identifiers in what the pipeline writes (warehouse rows, reports, files on disk):
one definition, so every scan finds the same things."""

from __future__ import annotations

import re

from transforms.nhs_number import is_valid

NHS_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{3}[ -]?\d{3}[ -]?\d{4}(?![0-9A-Za-z])")
"""A ten-digit number standing alone, spaced or not: digits inside hex keys, hashes and ids are not numbers."""

POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")


def nhs_numbers_in(text: str) -> list[str]:
    """The valid NHS numbers (modulus 11) written in ``text``."""
    return [m for m in NHS_LIKE.findall(text) if is_valid(re.sub(r"[ -]", "", m))]
