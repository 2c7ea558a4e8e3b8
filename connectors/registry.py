"""The one registry of source families: ``source_type`` in ``config/providers.toml`` -> the family object.

Adding a family is one folder (``connectors/<family>/`` exporting ``FAMILY``, a :class:`connectors.base.SourceFamily`)
and one line here. Nothing else in the platform knows the families by name.
"""

from __future__ import annotations

from connectors import csv_drop, excel_drop, lfpse_fhir_drop, rest_api
from connectors.base import SourceFamily

FAMILIES: dict[str, SourceFamily] = {
    "csv_drop": csv_drop.FAMILY,
    "excel_drop": excel_drop.FAMILY,
    "rest_api": rest_api.FAMILY,
    "lfpse_fhir_drop": lfpse_fhir_drop.FAMILY,
}


def register(family: SourceFamily) -> SourceFamily:
    """Add a family at run time (tests, plug-ins); the registry line above is the way for a shipped one."""
    FAMILIES[family.name] = family
    return family


def family_of(source_type: str) -> SourceFamily:
    """The family a provider's ``source_type`` names; :class:`KeyError` naming the known ones otherwise."""
    try:
        return FAMILIES[source_type]
    except KeyError:
        raise KeyError(f"no source family {source_type!r}; expected one of: {', '.join(FAMILIES)}") from None
