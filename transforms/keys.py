"""Portable keys and content hashes, computed in Python so DuckDB and PostgreSQL agree."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_SEP = "\x1f"  # unit separator: cannot occur in a normalised field
_NULL = "\x00"  # a NULL cell hashes differently from an empty string


def natural_key(*parts: object) -> str:
    """32-hex-character key from a natural key, e.g. ``natural_key("RAJ", "12345")``."""
    text = _SEP.join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _sha256_hex(texts: list[str], index: pd.Index, length: int = 64) -> pd.Series:
    """SHA-256 of each string: one C call per value (OpenSSL's; as fast as any vectorised hash here)."""
    sha = hashlib.sha256
    return pd.Series([sha(t.encode("utf-8")).hexdigest()[:length] for t in texts], index=index, dtype="string")


def _joined(texts: list[pd.Series]) -> list[str]:
    """The columns' values joined row by row with the unit separator, by Arrow in one pass (no NULLs left)."""
    arrays = [pa.array(t.array, type=pa.large_string(), from_pandas=True) for t in texts]
    if len(arrays) == 1:
        return arrays[0].to_pylist()
    return pc.binary_join_element_wise(*arrays, pa.scalar(_SEP, pa.large_string())).to_pylist()


def natural_keys(*columns: pd.Series) -> pd.Series:
    """Vectorised :func:`natural_key` over aligned columns."""
    return _sha256_hex(_joined([c.astype("string").fillna("") for c in columns]), columns[0].index, 32)


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
    return _sha256_hex(_joined([_as_text(frame[column]) for column in columns]), frame.index)
