"""Data-quality results history (issue 4): typed models registered on the canonical ``Base.metadata``."""

from __future__ import annotations
