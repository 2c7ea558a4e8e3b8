"""Excel drops: ``reader`` (cells back to the strings a CSV export would hold), ``family``."""

from connectors.excel_drop.family import FAMILY

__all__ = ["FAMILY"]
