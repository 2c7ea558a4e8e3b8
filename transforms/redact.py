"""Redaction of identifiers from every text field before it leaves the transform step.

Staff write NHS numbers, postcodes, phone numbers, e-mail addresses and dates of birth into narratives, but also
into short fields: a location of "Bay 4 NHS 999 111 9353 SS9 1EQ", a reference that is an NHS number. We cannot
find every name, but we remove every identifier that has a recognisable shape, in every canonical text column that
is not a code (:func:`redact_column`):

* NHS numbers written 3-3-4 with any separators (spaces, double spaces, dots, slashes, hyphens, tabs), and any
  other grouping of ten digits that passes the modulus 11 check (``99 91 11 93 53``);
* dates of birth in context: "born 20/10/1962", "DOB: 20.10.62", "d.o.b. 20 Oct 1962", "date of birth 1962-10-20";
* UK postcodes, UK phone numbers (``01245 123456``, ``+44 (0)20 7946 0958``) and e-mail addresses.

Speed matters (a backfill is millions of rows): a value goes through the patterns only when a cheap pre-filter,
one regular expression pyarrow runs natively over the whole column, says it could hold one of them.
"""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from transforms.nhs_number import is_valid

_SEP = r"[ \t./\\-]"
_NHS_SHAPE = re.compile(rf"(?<!\d)\d{{3}}{_SEP}{{0,3}}\d{{3}}{_SEP}{{0,3}}\d{{4}}(?!\d)")
# A run of digit groups joined by separators: any ten digits in consecutive groups of it may be an NHS number.
_DIGIT_RUN = re.compile(rf"\d+(?:{_SEP}{{1,3}}\d+)*")
_GROUP = re.compile(r"\d+")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = (rf"(?:\d{{1,2}}(?:st|nd|rd|th)?[\s/.-]+(?:\d{{1,2}}|{_MONTH})[\s/.,-]+\d{{2,4}}|\d{{4}}-\d{{1,2}}-\d{{1,2}}"
         rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})")
_DOB = re.compile(rf"\b(?:born(?:\s+(?:on|in))?|dob|d\s?\.\s?o\s?\.\s?b\b\.?|date\s+of\s+birth)\s*[:=-]?\s*"
                  rf"(?:{_DATE}|\d{{4}}\b)", re.IGNORECASE)
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<!\d)(?:\+44\s?(?:\(0\)\s?)?|\(?0)\d{2,4}\)?[\s.-]?\d{3,4}[\s.-]?\d{3,4}(?!\d)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")

_SPACE = "[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"  # Python's \\s
_DIGIT = r"\p{Nd}"  # Python's \d on text: any decimal digit, not only 0-9
_LETTER = "[A-Za-z\u0130\u0131\u017f\u212a]"  # [A-Z] under Python's IGNORECASE: also İ, ı, ſ and the Kelvin sign
_D = rf"{_DIGIT}[ \t./()\\-]{{0,3}}"
MAY_HOLD_IDENTIFIER = (rf"@|{_D * 8}{_DIGIT}"
                       rf"|{_LETTER}{{1,2}}{_DIGIT}(?:{_LETTER}|{_DIGIT})?{_SPACE}*{_DIGIT}{_LETTER}{{2}}"
                       rf"|(?i:born|dob|d{_SPACE}?\.{_SPACE}?o{_SPACE}?\.{_SPACE}?b|b[i\x{{130}}\x{{131}}]rth)")
"""The pre-filter, in RE2's syntax, run natively over the whole column by Arrow: an @, nine digits in a run, a
postcode shape or a date-of-birth word. Every pattern above needs one of them (it matches a superset, with Python's
Unicode meaning of a digit, a space and a case-insensitive letter); most text has none."""


def _ten_digits(match: re.Match[str]) -> str:
    """Within a run of digit groups ("Bay 4 1.8.66245.1.63"), redact every stretch of whole consecutive groups that
    holds exactly ten digits and passes the modulus 11 check: an NHS number in any grouping."""
    run = match.group(0)
    groups = [(g.start(), g.end()) for g in _GROUP.finditer(run)]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(groups):
        total, j = 0, i
        while j < len(groups) and total < 10:
            total += groups[j][1] - groups[j][0]
            j += 1
        start, end = groups[i][0], groups[j - 1][1]
        if total == 10 and is_valid(re.sub(r"\D", "", run[start:end])):
            spans.append((start, end))
            i = j
        else:
            i += 1
    for start, end in reversed(spans):
        run = run[:start] + "[NUMBER REDACTED]" + run[end:]
    return run


def redact(text: str) -> str:
    """Replace NHS numbers, dates of birth, e-mail addresses, phone numbers and postcodes with tags."""
    text = _DOB.sub("[DOB REDACTED]", text)
    text = _EMAIL.sub("[EMAIL REDACTED]", text)
    text = _NHS_SHAPE.sub("[NUMBER REDACTED]", text)
    text = _DIGIT_RUN.sub(_ten_digits, text)
    text = _PHONE.sub("[PHONE REDACTED]", text)
    return _POSTCODE.sub("[POSTCODE REDACTED]", text)


def redact_column(values: pd.Series) -> pd.Series:
    """:func:`redact` over a column, running the patterns only on the values the pre-filter picks (vectorised:
    one native regular-expression pass over the column)."""
    values = values.astype("string")
    candidates = may_hold_identifier(values)
    if not candidates.any():
        return values
    out = values.copy()
    out[candidates] = pd.array([redact(v) for v in values[candidates].tolist()], dtype="string")
    return out


def may_hold_identifier(values: pd.Series) -> pd.Series:
    """True where the pre-filter matches (NULL is False): one native Arrow pass (pandas would run Python's ``re``
    value by value for this pattern)."""
    if not len(values):
        return pd.Series(False, index=values.index, dtype=bool)
    array = pa.chunked_array([pa.array(values.array, type=pa.large_string(), from_pandas=True)])
    matched = pc.fill_null(pc.match_substring_regex(array, MAY_HOLD_IDENTIFIER), False)
    return pd.Series(matched.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


def nhs_number_like(values: pd.Series) -> pd.Series:
    """True where the whole value, separators aside, is a valid NHS number (a reference field holding one)."""
    digits = values.astype("string").str.replace(r"[ \t./\\-]", "", regex=True)
    shaped = digits.str.fullmatch(r"\d{10}").fillna(False).astype(bool)
    out = pd.Series(False, index=values.index)
    if shaped.any():
        out[shaped] = [is_valid(d) for d in digits[shaped].tolist()]
    return out
