"""Reference data the warehouse needs before any batch: the organisations that send (or are named in) feeds."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine

from psirf import settings
from psirf.errors import ConfigError
from psirf.registry import Provider
from warehouse.models import Base

__all__ = ["PARTNER_TRUSTS_CSV", "infer_org_type", "seed_organisations"]

PARTNER_TRUSTS_CSV = settings.REFERENCE_DIR / "essex_partner_trusts.csv"

_ORG_TYPES = (
    (re.compile(r"R[A-Z0-9]{2}"), "trust"),  # NHS trusts: R + 2 characters
    (re.compile(r"[A-Z]\d{5}"), "gp_practice"),  # GP practices: A99999
    (re.compile(r"Q[A-Z0-9]{2}"), "icb"),  # integrated care boards: Q + 2 characters
    (re.compile(r"X\d{2}"), "national"),  # national bodies: X24 NHS England (runs LFPSE), X26 NHS Digital
)


def infer_org_type(ods_code: str) -> str:
    """The organisation type implied by the shape of an ODS code (the codes are typed by their format)."""
    for pattern, org_type in _ORG_TYPES:
        if pattern.fullmatch(ods_code):
            return org_type
    raise ConfigError(
        f"cannot tell the organisation type of ODS code {ods_code!r}: expected a trust (R + 2 "
        "characters), a GP practice (letter + 5 digits), an ICB (Q + 2 characters) or a national body (X + 2 digits)"
    )


def _partner_trusts(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return [
                {
                    "ods_code": row["ods_code"].strip().upper(),
                    "name": row["name"].strip(),
                    "org_type": "trust",
                    "icb_code": (row.get("icb_code") or "").strip() or None,
                    "region_code": (row.get("region") or "").strip() or None,
                }
                for row in csv.DictReader(handle)
            ]
    except FileNotFoundError:
        raise ConfigError(f"organisation reference file not found: {path}") from None
    except KeyError as exc:
        raise ConfigError(f"{path}: missing column {exc}") from None


def seed_organisations(engine: Engine, providers: Iterable[Provider], reference_csv: Path | None = None) -> int:
    """Upsert the partner trusts from the reference file, plus any registry provider the file does not list.

    The reference file wins for names and codes (it is the ODS extract); a provider missing from it still needs a
    row, so it gets its registry name and a type inferred from its code. Idempotent. Returns the rows upserted.
    """
    rows = {row["ods_code"]: row for row in _partner_trusts(reference_csv or PARTNER_TRUSTS_CSV)}
    for provider in providers:
        if provider.ods_code not in rows:
            rows[provider.ods_code] = {
                "ods_code": provider.ods_code,
                "name": provider.name,
                "org_type": infer_org_type(provider.ods_code),
                "icb_code": None,
                "region_code": None,
            }
    if not rows:
        return 0
    table = Base.metadata.tables["organisation"]
    statement = insert(table).values(list(rows.values()))
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.ods_code],
        set_={c: statement.excluded[c] for c in ("name", "org_type", "icb_code", "region_code")},
    )
    with engine.begin() as conn:
        conn.execute(statement)
    return len(rows)
