"""LFPSE FHIR drops: ``reader`` (AdverseEvent JSON, Bundles, NDJSON -> patient-level rows), ``family``."""

from connectors.lfpse_fhir_drop.family import FAMILY

__all__ = ["FAMILY"]
