"""The analysts' data dictionary: dbt's own documentation site (models, columns, tests, lineage), built offline.

``dbt docs generate --static`` writes one self-contained HTML file (manifest and catalog embedded), so it opens
from disk without a web server or a network. It is copied to ``$PSIRF_HOME/docs/dbt/index.html``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from psirf import settings
from warehouse.dbt_project import DbtError, dbt_home, invoke

__all__ = ["docs_path", "generate_docs"]


def docs_path() -> Path:
    return settings.psirf_home() / "docs" / "dbt" / "index.html"


def generate_docs(url: str | None = None) -> Path:
    """Build the documentation from the warehouse (the catalog reads column types from it); returns the page."""
    result = invoke(["docs", "generate", "--static"], url)
    page = dbt_home() / "target" / "static_index.html"
    if not result.success or not page.is_file():
        raise DbtError(f"dbt docs generate failed (dbt log: {dbt_home() / 'logs' / 'dbt.log'})")
    target = docs_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(page, target)
    return target
