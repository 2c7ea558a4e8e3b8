"""The analysts' star schema refresh (issue 5). Placeholder until that issue lands."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine


def refresh(engine: Engine | None = None) -> dict[str, Any]:
    """Bring the marts up to date with the canonical tables, incrementally."""
    return {}
