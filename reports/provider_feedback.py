"""Provider data-quality feedback reports (issue 4). Placeholder until that issue lands."""

from __future__ import annotations

from typing import Any


def deliver_for_run(ods_code: str, run_id: str | None) -> dict[str, Any]:
    """Build and deliver the provider's feedback report for the loads of one run."""
    return {"provider_ods": ods_code, "run_id": run_id, "delivered": []}
