"""Vectorised parsing of source strings: whitespace, labels, dates, times and yes/no values.

Every parser returns the parsed values plus a mask of values that were present but could not be read, so the
caller can quarantine them with a reason instead of silently turning them into NULL.
"""

from __future__ import annotations

import re

import pandas as pd

_TIME = re.compile(r"^(?P<h>\d{1,2}):?(?P<m>\d{2})$")
# Patterns that pyarrow's RE2 runs natively (no lookaround, no \s, \d or \b), so pandas does not fall back to
# Python's ``re`` value by value; the whitespace class is spelled out with literal characters for that reason.
_WHITESPACE_RUN = "[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"  # str.isspace
_LEADING_ZERO = "(^|[^0-9])0([0-9])"


def squeeze(values: pd.Series) -> pd.Series:
    """Trim and collapse runs of whitespace; empty becomes NULL (an empty cell is a missing value)."""
    out = values.astype("string").str.replace(_WHITESPACE_RUN, " ", regex=True).str.strip()
    return out.mask(out == "")


def free_text(values: pd.Series) -> pd.Series:
    """Normalise line endings and trim, keeping line breaks (they carry meaning in narratives)."""
    out = values.astype("string").str.replace("\r\n", "\n", regex=False).str.replace("\r", "\n", regex=False)
    out = out.str.strip()
    return out.mask(out == "")


def strip_label_prefixes(labels: pd.Series, patterns: tuple[re.Pattern[str], ...]) -> pd.Series:
    """Remove prefixes such as ``(Old Code, deactivated 31.03.23):`` so the current code can be matched."""
    out = labels
    for pattern in patterns:
        out = out.str.replace(pattern, "", regex=True).str.strip()
    return out


def fold(labels: pd.Series) -> pd.Series:
    return labels.str.casefold()


def parse_dates(values: pd.Series, fmt: str) -> tuple[pd.Series, pd.Series]:
    """Parse with an explicit format (``03/04/2024`` is 3 April under ``%d/%m/%Y``); never infer the order."""
    parsed = pd.to_datetime(values, format=fmt, errors="coerce")
    # to_datetime accepts some looser forms than the format implies (e.g. single-digit parts): re-render and
    # compare so that only values exactly in the agreed layout pass.
    rendered = parsed.dt.strftime(fmt)
    loose = parsed.notna() & ~_same_layout(values, rendered, fmt)
    parsed = parsed.mask(loose)
    bad = values.notna() & parsed.isna()
    return parsed.astype("datetime64[ns]"), bad


def _same_layout(values: pd.Series, rendered: pd.Series, fmt: str) -> pd.Series:
    if "%d" in fmt or "%m" in fmt:
        # Accept single-digit day/month (d/m/yyyy), which Datix emits on some sites, but nothing else loose.
        def canon(s: pd.Series) -> pd.Series:
            return s.astype("string").str.replace(_LEADING_ZERO, r"\1\2", regex=True)

        return (canon(values) == canon(rendered)).fillna(False).astype(bool)
    return (values == rendered).fillna(False).astype(bool)


def parse_times(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``HHMM`` or ``HH:MM`` -> ``HH:MM``."""
    parts = values.str.extract(_TIME)
    hours = pd.to_numeric(parts["h"], errors="coerce")
    minutes = pd.to_numeric(parts["m"], errors="coerce")
    ok = hours.between(0, 23) & minutes.between(0, 59)
    def two_digits(numbers: pd.Series) -> pd.Series:
        return numbers.astype("Int64").astype("string").str.zfill(2)

    text = two_digits(hours) + ":" + two_digits(minutes)
    out = text.where(ok.fillna(False).astype(bool)).astype("string")
    bad = values.notna() & out.isna()
    return out, bad


def parse_bools(values: pd.Series, true_values: frozenset[str],
                false_values: frozenset[str]) -> tuple[pd.Series, pd.Series]:
    folded = fold(values)
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out = out.mask(folded.isin(true_values).fillna(False).astype(bool), True)
    out = out.mask(folded.isin(false_values).fillna(False).astype(bool), False)
    bad = values.notna() & out.isna()
    return out, bad


def parse_ints(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers (``12``, ``+3``); ``1.0`` or ``1e3`` are not whole numbers as sent."""
    ok = values.str.fullmatch(r"[+-]?\d{1,12}").fillna(False).astype(bool)
    out = pd.to_numeric(values.where(ok), errors="coerce").astype("Int64")
    bad = values.notna() & ~ok
    return out, bad
