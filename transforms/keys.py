"""Portable keys and content hashes, computed in Python so DuckDB and PostgreSQL agree."""

from __future__ import annotations

import hashlib

import pandas as pd

_SEP = "\x1f"  # unit separator: cannot occur in a normalised field
_NULL = "\x00"  # a NULL cell hashes differently from an empty string


def natural_key(*parts: object) -> str:
    """32-hex-character key from a natural key, e.g. ``natural_key("RAJ", "12345")``."""
    text = _SEP.join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _sha256_hex(texts: pd.Series, length: int = 64) -> pd.Series:
    """SHA-256 of each string: one C call per value, no per-cell Python (the join is done column-wise)."""
    sha = hashlib.sha256
    return pd.Series([sha(t.encode("utf-8")).hexdigest()[:length] for t in texts.tolist()], index=texts.index,
                     dtype="string")


def natural_keys(*columns: pd.Series) -> pd.Series:
    """Vectorised :func:`natural_key` over aligned columns."""
    joined = columns[0].astype("string").fillna("")
    for col in columns[1:]:
        joined = joined + _SEP + col.astype("string").fillna("")
    return _sha256_hex(joined, 32)


def _as_text(values: pd.Series) -> pd.Series:
    """A column as text, column-wise; NULL as ``\\x00``. Datetimes keep their time part so edits to it count."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        text = values.dt.strftime("%Y-%m-%d %H:%M:%S").astype("string")
    else:
        text = values.astype("string")
    return text.fillna(_NULL)


def row_hashes(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """SHA-256 of each row's canonical content (the given columns, in order); NULL hashes differently from ''.

    Built column by column (vectorised string joins), then one hash per row: change detection for the merge.
    """
    if not len(frame):
        return pd.Series([], index=frame.index, dtype="string")
    joined = _as_text(frame[columns[0]])
    for column in columns[1:]:
        joined = joined + _SEP + _as_text(frame[column])
    return _sha256_hex(joined)
