"""The pipeline's outputs stay exactly what they were when the golden digests were recorded (issue 15).

The demo estate (every source family) and a small bench feed read in 400-row chunks are loaded with a fixed
extraction time; every warehouse table — canonical rows, quarantine, ledger, data-quality results — must have the
recorded row count and the recorded digest of its rows, on DuckDB and on PostgreSQL (:mod:`tests.golden_outputs`).
A faster reader, transform, validation or load that changes a single value fails here, naming the column.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import _pg_database
from tests.golden_outputs import GOLDEN, differences, load_fixture_feeds


@pytest.fixture(params=[pytest.param("duckdb", id="duckdb"),
                        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)])
def url_for(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A fresh warehouse per input: a DuckDB file each, or a PostgreSQL database each."""
    if request.param == "duckdb":
        yield lambda name: f"duckdb:///{tmp_path}/{name}.duckdb"
        return
    databases = {name: _pg_database() for name in ("demo", "bench")}
    urls = {name: next(gen) for name, gen in databases.items()}
    try:
        yield urls.__getitem__
    finally:
        for gen in databases.values():
            gen.close()


@pytest.mark.slow
def test_every_table_is_as_recorded(url_for: Callable[[str], str], tmp_path: Path) -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    found = load_fixture_feeds(url_for, tmp_path / "work")
    assert differences(expected, found) == []
