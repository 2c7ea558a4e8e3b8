"""CSV drops: ``reader`` (encoding via :mod:`connectors.encoding`, delimiter, quoting, long fields), ``family``."""

from connectors.csv_drop.family import FAMILY

__all__ = ["FAMILY"]
