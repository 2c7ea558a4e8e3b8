"""The analysts' star schema (issue 5): dimension and fact models registered on the canonical ``Base.metadata``."""

from __future__ import annotations
