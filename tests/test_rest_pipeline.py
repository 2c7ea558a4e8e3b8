"""A REST provider through the whole pipeline against the local provider API server, on both warehouses:
the watermark moves only when a batch commits, and an exhausted server leaves it where it was."""

import pytest
import requests
import sqlalchemy as sa

from connectors.rest_api.client import ApiAuthError, ApiError
from psirf.pipeline import run_provider
from warehouse.ledger import table_counts, watermark


@pytest.fixture
def fast_retries(demo_estate, tmp_path, monkeypatch):
    """The demo registry, with R1L's retry back-off shortened so exhausting it takes a second, not a minute."""
    from psirf import settings

    text = settings.registry_path().read_text(encoding="utf-8")
    text = text.replace("backoff_factor = 0.5\nbackoff_max = 60", "backoff_factor = 0.01\nbackoff_max = 0.05")
    assert "backoff_factor = 0.01" in text
    registry = tmp_path / "providers.toml"
    registry.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PSIRF_REGISTRY", str(registry))
    return demo_estate


def _faults(api_url: str, **faults: object) -> None:
    requests.post(f"{api_url}/_admin/faults", json=faults, timeout=5).raise_for_status()


def test_watermark_advances_only_with_committed_data(fast_retries, warehouse_url, migrated_engine, monkeypatch):
    home, manifest, api_url = fast_retries
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", warehouse_url)
    engine = migrated_engine

    first = run_provider("R1L", engine=engine)
    assert {r["entity"] for r in first} == {"incidents", "safety_actions", "learning_responses"}
    mark = watermark(engine, "R1L", "incidents")
    assert mark is not None
    counts = table_counts(engine)

    # A new record appears upstream, but the server fails every request: the extract fails, nothing moves.
    _faults(api_url, insert_after_page=1, insert_entity="incidents", error_burst=50)
    with pytest.raises(ApiError, match="R1L"):
        run_provider("R1L", engine=engine)
    assert watermark(engine, "R1L", "incidents") == mark
    assert table_counts(engine) == counts

    # A revoked credential fails at once, naming the connection to fix.
    _faults(api_url, unauthorized=True)
    with pytest.raises(ApiAuthError, match="r1l_api"):
        run_provider("R1L", engine=engine)
    assert watermark(engine, "R1L", "incidents") == mark

    # Once the server recovers, the new record (inserted upstream after the first page was served) is loaded
    # exactly once over the next runs, and the watermark moves past it.
    _faults(api_url, insert_after_page=1, insert_entity="incidents")
    runs = [run_provider("R1L", engine=engine) for _ in range(2)]
    inserted = [r["inserted"] for batches in runs for r in batches if r["entity"] == "incidents"]
    assert sum(inserted) == 1
    assert table_counts(engine)["incident"] == counts["incident"] + 1
    assert watermark(engine, "R1L", "incidents") > mark
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM incident WHERE provider_ods = 'R1L'")).scalar() == \
            manifest["providers"]["R1L"]["files"]["incidents"]["expected_loaded"] + 1
