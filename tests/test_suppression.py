"""Small-number suppression: 1-7 hidden, the rest rounded to 5, totals from unrounded data, nothing recoverable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.suppression import (
    SuppressionRule,
    display_count,
    numeric,
    suppress_rate,
    suppress_statistic,
    suppress_table,
)

RULE = SuppressionRule()


def _table(values: list[list[int]]) -> pd.DataFrame:
    return pd.DataFrame(values, index=[f"r{i}" for i in range(len(values))],
                        columns=[f"c{j}" for j in range(len(values[0]))])


def test_small_counts_are_hidden_others_rounded_and_a_lone_hidden_cell_gets_a_partner() -> None:
    shown = suppress_table(_table([[0, 3, 12], [8, 20, 40]]), RULE)

    assert shown.to_numpy().tolist() == [
        ["0", "*", "*", "15"],   # 3 is hidden, so 12 is hidden too: 15 - 0 - 12 would give it away
        ["10", "*", "*", "70"],  # 20 and 40 partner the hidden cells of their columns
        ["10", "25", "50", "85"],
    ]
    assert list(shown.columns) == ["c0", "c1", "c2", "Total"] and list(shown.index) == ["r0", "r1", "Total"]


def test_totals_come_from_unrounded_counts() -> None:
    shown = suppress_table(_table([[8, 8, 8]]), RULE, column_totals=False)
    assert shown.loc["r0"].tolist() == ["10", "10", "10", "25"]  # 24 rounded, not the 30 the cells add up to


def _lines(full_hidden: np.ndarray) -> list[np.ndarray]:
    return [full_hidden[i, :] for i in range(full_hidden.shape[0])] + [
        full_hidden[:, j] for j in range(full_hidden.shape[1])]


@pytest.mark.parametrize("seed", range(40))
def test_no_published_cell_is_small_and_no_hidden_cell_is_alone_in_its_line(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    values = rng.choice([0, 0, 1, 2, 5, 7, 8, 9, 13, 22, 60], size=shape)
    shown = suppress_table(pd.DataFrame(values), RULE)

    cells = shown.to_numpy()
    published = [int(c) for c in cells.ravel() if c != "*"]
    assert all(c == 0 or c >= 10 for c in published) and all(c % 5 == 0 for c in published)
    hidden = cells == "*"
    assert all(line.sum() != 1 for line in _lines(hidden)), cells
    full = np.vstack([np.hstack([values, values.sum(1, keepdims=True)]),
                      np.append(values.sum(0), values.sum())])
    assert (hidden >= ((full >= 1) & (full <= 7))).all()  # every small count is hidden
    for (i, j), text in np.ndenumerate(cells):
        if text != "*":
            assert int(text) == RULE.rounded(int(full[i, j]))


def test_thresholds_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSIRF_SUPPRESS_UP_TO", "10")
    monkeypatch.setenv("PSIRF_ROUND_TO", "10")
    assert [display_count(n) for n in (0, 9, 10, 14, 15, 26)] == ["0", "*", "*", "10", "20", "30"]
    assert [display_count(n, RULE) for n in (0, 1, 7, 8, 12, 13)] == ["0", "*", "*", "10", "10", "15"]


def test_rates_statistics_and_chart_values() -> None:
    assert suppress_rate(40, 50, RULE) == "80%"
    assert suppress_rate(3, 50, RULE) == "*" and suppress_rate(47, 50, RULE) == "*"  # 3 would be disclosed
    assert suppress_rate(0, 0, RULE) == "-"
    assert suppress_statistic(12.5, 20, "days", RULE) == "12.5 days"
    assert suppress_statistic(3.0, 4, "days", RULE) == "*"
    assert numeric("*") is None and numeric("15") == 15.0
