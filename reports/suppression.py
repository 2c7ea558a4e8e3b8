"""Small-number suppression for every output shared beyond a single provider (NHS Digital practice).

One rule, one function for tables (:func:`suppress_table`), used by every shared table and chart:

- a count from 1 to 7 is shown as ``*``; 0 is shown as 0 (a structural zero discloses nobody);
- every other count is rounded to the nearest 5;
- totals are computed from the unrounded counts, then suppressed or rounded like any cell;
- no suppressed cell can be worked out by subtraction: wherever a row or column (with its total) would have
  exactly one hidden entry, the smallest other cell in it is hidden too (secondary suppression), repeated until
  no line has exactly one. A ``*`` therefore means "1 to 7, or hidden to protect another cell".

Charts are drawn from the suppressed table (:func:`numeric`), so a chart never shows what the table hides.
Thresholds are configurable (``PSIRF_SUPPRESS_UP_TO``, default 7; ``PSIRF_ROUND_TO``, default 5): the rounding
rule is our reading of the guidance and may be changed without touching any report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SuppressionRule", "display_count", "numeric", "suppress_rate", "suppress_statistic", "suppress_table"]


@dataclass(frozen=True)
class SuppressionRule:
    up_to: int = 7
    """Counts from 1 to ``up_to`` are suppressed."""
    round_to: int = 5
    """Other counts are rounded to the nearest multiple of this (1: no rounding)."""
    symbol: str = "*"

    @classmethod
    def from_env(cls) -> SuppressionRule:
        return cls(up_to=int(os.environ.get("PSIRF_SUPPRESS_UP_TO", "7")),
                   round_to=int(os.environ.get("PSIRF_ROUND_TO", "5")))

    def is_small(self, count: int) -> bool:
        return 1 <= count <= self.up_to

    def rounded(self, count: int) -> int:
        return int(np.floor(count / self.round_to + 0.5)) * self.round_to


def display_count(count: int, rule: SuppressionRule | None = None) -> str:
    """One count on its own (no total to subtract it from): ``*``, 0, or rounded."""
    rule = rule or SuppressionRule.from_env()
    count = int(count)
    return rule.symbol if rule.is_small(count) else str(rule.rounded(count))


def suppress_table(counts: pd.DataFrame, rule: SuppressionRule | None = None, *, row_totals: bool = True,
                   column_totals: bool = True, total_label: str = "Total") -> pd.DataFrame:
    """Counts (rows x categories, integers; NaN = 0) → display strings, with totals from the unrounded data.

    The result has the same row and column order, plus a ``total_label`` column and/or row.
    """
    rule = rule or SuppressionRule.from_env()
    values = counts.fillna(0).astype("int64").to_numpy()
    full = values
    if row_totals:
        full = np.hstack([full, full.sum(axis=1, keepdims=True)])
    if column_totals:
        full = np.vstack([full, full.sum(axis=0, keepdims=True)])
    hidden = (full >= 1) & (full <= rule.up_to)

    # Lines: every row with its total (the last entry), every column with its total.
    lines: list[list[tuple[int, int]]] = []
    if row_totals:
        lines += [[(i, j) for j in range(full.shape[1])] for i in range(full.shape[0])]
    if column_totals:
        lines += [[(i, j) for i in range(full.shape[0])] for j in range(full.shape[1])]
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(hidden[c] for c in line) != 1:
                continue
            cells, total = line[:-1], line[-1]
            candidates = [c for c in cells if not hidden[c]]
            if not candidates:
                hidden[total] = True
            else:  # the smallest non-zero cell (a zero only if nothing else is left)
                hidden[min(candidates, key=lambda c: (full[c] == 0, full[c]))] = True
            changed = True

    shown = np.empty(full.shape, dtype=object)
    for cell in np.ndindex(full.shape):
        shown[cell] = rule.symbol if hidden[cell] else str(rule.rounded(int(full[cell])))
    rows = list(counts.index) + ([total_label] if column_totals else [])
    columns = list(counts.columns) + ([total_label] if row_totals else [])
    return pd.DataFrame(shown, index=rows, columns=columns)


def numeric(shown: str) -> float | None:
    """A displayed count back as a number for charts: None where suppressed."""
    try:
        return float(shown)
    except ValueError:
        return None


def suppress_rate(numerator: int, denominator: int, rule: SuppressionRule | None = None) -> str:
    """A percentage, hidden (``*``) when either part of it is a small number it would disclose."""
    rule = rule or SuppressionRule.from_env()
    if denominator <= 0:
        return "-"
    if rule.is_small(numerator) or rule.is_small(denominator - numerator) or rule.is_small(denominator):
        return rule.symbol
    return f"{100 * numerator / denominator:.0f}%"


def suppress_share(share: float | None, numerator: int, denominator: int,
                   rule: SuppressionRule | None = None) -> str:
    """A share the marts computed (a percentage), hidden (``*``) when either part of it is a small number."""
    rule = rule or SuppressionRule.from_env()
    if denominator <= 0 or share is None:
        return "-"
    if rule.is_small(numerator) or rule.is_small(denominator - numerator) or rule.is_small(denominator):
        return rule.symbol
    return f"{float(share):.1f}%"


def suppress_statistic(value: float | None, n: int, unit: str, rule: SuppressionRule | None = None) -> str:
    """A statistic over ``n`` records (e.g. a median in days), hidden when ``n`` is a small number."""
    rule = rule or SuppressionRule.from_env()
    if value is None or n == 0 or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if rule.is_small(n):
        return rule.symbol
    return f"{value:.1f} {unit}"
