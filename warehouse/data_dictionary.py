"""Generate the analysts' data dictionary (``docs/data_dictionary.md``) from the models and the view definitions.

Generated, never hand-edited, so it cannot drift from the schema: ``tests/test_data_dictionary.py`` fails when the
committed file differs from :func:`render`. Regenerate with ``psirf dictionary`` (or
``python -m warehouse.data_dictionary``) after changing a model, a column comment, a code list or a view.
"""

from __future__ import annotations

import inspect
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from psirf.settings import REPO_ROOT
from warehouse.access import free_text_columns
from warehouse.marts import code_lists
from warehouse.models import Base
from warehouse.views import VIEWS

__all__ = ["DICTIONARY_PATH", "render"]

DICTIONARY_PATH = REPO_ROOT / "docs" / "data_dictionary.md"

_INTRO = """\
# Data dictionary: the patient-safety warehouse

Generated from `warehouse/models.py`, `warehouse/mart_models.py` and `warehouse/views.py` by
`psirf dictionary`; do not edit by hand (a test fails when this file is out of date).

**Where to start.** Analysts query the *oversight views* (one per PSIRF question) and the *star schema*
(`dim_*`, `fct_*`, `bridge_*`). Both hold codes, dates, flags and counts only: no free text and no patient
identifier. Report by **occurred** date. Every dimension has an `unknown` member (date key `0`), so inner joins
from a fact to its dimensions never drop a row. The canonical tables below them are the load layer.

**Who sees what (PostgreSQL).** ICB analysts (`<prefix>analyst`) read every provider's rows but not the columns
marked *withheld* (free text and the patient pseudonym). A provider role (`<prefix>provider_<ods>`) reads only
rows whose `provider_ods` is its own, through forced row-level security, views included. A DuckDB warehouse is
a single-user development copy with no access control.

**Sharing outside the ICB.** Counts in any output shared beyond one provider must go through small-number
suppression (`reports/suppression.py`): 1-7 shown as `*`, others rounded to the nearest 5, totals from exact
figures, no cell recoverable by subtraction.
"""


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _doc(table: sa.Table) -> str:
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return inspect.cleandoc(mapper.class_.__doc__ or "")
    return ""


def _type(column: sa.Column[Any]) -> str:
    return str(column.type.compile(dialect=postgresql.dialect())).lower()


def _table(table: sa.Table, members: list[dict[str, object]] | None) -> list[str]:
    withheld = free_text_columns(table)
    lines = [f"### `{table.name}`", "", _doc(table) or "(no description)", ""]
    if "provider_ods" in table.columns:
        lines += ["*Row-level security:* provider roles see only their own `provider_ods` rows.", ""]
    lines += ["| column | type | null | meaning |", "|---|---|---|---|"]
    for column in table.columns:
        meaning = _cell(column.comment)
        if column.name in withheld:
            meaning = f"{meaning} *(withheld from analysts)*".strip()
        key = " (key)" if column.primary_key else ""
        lines.append(f"| `{column.name}`{key} | {_type(column)} | {'yes' if column.nullable else 'no'} | {meaning} |")
    if members:
        columns = [c for c in members[0] if not c.endswith("_key")]
        lines += ["", f"Members ({len(members)}):", "", "| " + " | ".join(columns) + " |",
                  "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_cell(m[c]) for c in columns) + " |" for m in members]
    return [*lines, ""]


def render() -> str:
    """The dictionary as Markdown: views, star schema (with code lists), then canonical and operational tables."""
    lists = code_lists()
    lines = [_INTRO, "## Oversight views", ""]
    for view in VIEWS:
        lines += [f"### `{view.name}`", "", f"**Question:** {view.question}", "", f"**Grain:** {view.grain}.", ""]
        if view.notes:
            lines += [f"*Note:* {view.notes}", ""]
        lines += ["| column | type | meaning |", "|---|---|---|"]
        lines += [f"| `{name}` | {kind} | {_cell(meaning)} |" for name, kind, meaning in view.columns]
        lines.append("")
    star = [t for n, t in Base.metadata.tables.items() if n.startswith(("dim_", "fct_", "bridge_", "mart_"))]
    other = [t for t in Base.metadata.tables.values() if t not in star]
    lines += ["## Star schema", ""]
    for table in star:
        lines += _table(table, lists.get(table.name))
    lines += ["## Canonical and operational tables", ""]
    for table in other:
        lines += _table(table, None)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    DICTIONARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    DICTIONARY_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {DICTIONARY_PATH}")
