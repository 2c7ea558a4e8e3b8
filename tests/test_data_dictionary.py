"""The analysts' data dictionary is generated from the models and views, and the committed copy is current."""

from __future__ import annotations

import re

from warehouse.data_dictionary import DICTIONARY_PATH, render
from warehouse.models import Base
from warehouse.views import VIEWS


def test_the_committed_dictionary_is_up_to_date() -> None:
    committed = DICTIONARY_PATH.read_text(encoding="utf-8") if DICTIONARY_PATH.exists() else ""
    assert committed == render(), (
        f"{DICTIONARY_PATH.name} is out of date with the models or views: run `psirf dictionary` "
        "(or python -m warehouse.data_dictionary) and commit the result")


def _section(text: str, name: str) -> str:
    match = re.search(rf"^### `{name}`\n(.*?)(?=^### |\Z)", text, flags=re.M | re.S)
    assert match, f"no section for {name}"
    return match.group(1)


def test_every_table_view_and_column_is_described_with_its_grain() -> None:
    text = render()
    for table in Base.metadata.tables.values():
        section = _section(text, table.name)
        assert "Grain" in section or "grain" in section, f"{table.name}: no grain stated"
        for column in table.columns:
            assert f"| `{column.name}`" in section, f"{table.name}.{column.name} missing"
    for view in VIEWS:
        section = _section(text, view.name)
        assert f"**Grain:** {view.grain}" in section and view.question in section
        assert all(f"| `{name}` | {kind} | " in section for name, kind, _ in view.columns)


def test_code_lists_and_withheld_columns_are_shown() -> None:
    text = render()
    harm = _section(text, "dim_physical_harm")
    assert "| 3 | Moderate physical harm | 2 | True |" in harm and "| unknown |" in harm
    withheld = "| `description` | text | yes | What happened (free text, identifiers redacted) *(withheld"
    assert withheld in _section(text, "incident")
    assert "Row-level security" in _section(text, "fct_incident")
