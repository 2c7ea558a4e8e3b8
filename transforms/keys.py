"""Portable keys and content hashes, computed in Python so DuckDB and PostgreSQL agree."""

from __future__ import annotations

import hashlib

import pandas as pd

_SEP = "\x1f"  # unit separator: cannot occur in a normalised field


def natural_key(*parts: object) -> str:
    """32-hex-character key from a natural key, e.g. ``natural_key("RAJ", "12345")``."""
    text = _SEP.join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def natural_keys(*columns: pd.Series) -> pd.Series:
    """Vectorised :func:`natural_key` over aligned columns."""
    joined = columns[0].astype("string").fillna("")
    for col in columns[1:]:
        joined = joined + _SEP + col.astype("string").fillna("")
    return joined.map(lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest()[:32]).astype("string")


def row_hashes(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """SHA-256 of each row's canonical content (the given columns, in order); NULL hashes differently from ''."""
    def _cell(v: object) -> str:
        return "\x00" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)

    records = frame[columns].astype(object).itertuples(index=False, name=None)
    return pd.Series(
        [hashlib.sha256(_SEP.join(_cell(v) for v in rec).encode("utf-8")).hexdigest() for rec in records],
        index=frame.index,
        dtype="string",
    )
