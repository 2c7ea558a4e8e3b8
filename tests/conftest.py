"""Shared fixtures: a fresh, empty warehouse on each engine the platform supports.

``warehouse_url`` runs a test once on DuckDB and once on the real PostgreSQL server, because the two must
behave identically and only running both shows that they do. PostgreSQL tests are marked ``postgres``; when
the server is unreachable they skip locally, but fail under CI (``CI=true``), where a skip would quietly
drop half of the coverage.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import Engine

from warehouse.db import make_engine
from warehouse.migrate import upgrade


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs on two xdist workers with ``--dist loadgroup``: a module's tests stay together (its
    module-scoped warehouse builds are made once), except the runs through Airflow, each of which is its own group
    so the DuckDB and PostgreSQL runs (the two longest tests) go to different workers."""
    for item in items:
        group = item.nodeid.split("::")[0]
        if item.get_closest_marker("airflow") is not None:
            group = item.nodeid
        item.add_marker(pytest.mark.xdist_group(group))

PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"


def _pg_admin() -> psycopg.Connection:
    """An autocommit connection to the maintenance database; CI fails and local runs skip when it is down."""
    try:
        return psycopg.connect(**PG_ADMIN, autocommit=True, connect_timeout=5)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        where = f"{PG_ADMIN['host']}:{PG_ADMIN['port']}"
        message = f"PostgreSQL is not reachable at {where} as user {PG_ADMIN['user']}: {exc}".strip()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}\nCI must run the PostgreSQL tests: start the server, do not skip them.")
        pytest.skip(f"{message} (start it with: pg_ctlcluster <version> main start)")


def _pg_database() -> Iterator[str]:
    dbname = f"psirf_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    try:
        yield PG_URL.format(dbname=dbname)
    finally:
        with _pg_admin() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


@pytest.fixture(
    params=[
        pytest.param("duckdb", id="duckdb"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty warehouse database (no tables): a new DuckDB file, or a new PostgreSQL database."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'warehouse' / 'warehouse.duckdb'}"
    else:
        yield from _pg_database()


@pytest.fixture
def migrated_engine(warehouse_url: str) -> Iterator[Engine]:
    """An engine on ``warehouse_url``, upgraded to the newest migration; disposed afterwards."""
    engine = make_engine(warehouse_url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def pg_warehouse() -> Iterator[tuple[str, Engine]]:
    """A fresh, migrated PostgreSQL warehouse only, ``(url, engine)``: for tests of real concurrent processes,
    which DuckDB (one process per file) cannot have. Mark such tests ``postgres``."""
    databases = _pg_database()
    url = next(databases)
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield url, engine
    finally:
        engine.dispose()
        databases.close()


@pytest.fixture(scope="session", autouse=True)
def _dbt_manifest(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Parse the dbt project once per session: the nightly DAG lays its dbt tasks out from the manifest."""
    from warehouse.dbt_project import parse_project

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PSIRF_HOME", str(tmp_path_factory.mktemp("dbt_parse")))
        parse_project(f"duckdb:///{tmp_path_factory.mktemp('parse_warehouse') / 'warehouse.duckdb'}")


@pytest.fixture(autouse=True)
def _psirf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test writes its work files (dbt's manifest and logs, reports, outbox) under its own folder, never in
    the repository's var/ that `make run` uses (the Makefile exports PSIRF_HOME: two workers sharing it raced on
    dbt's profile); a test that needs another home sets PSIRF_HOME itself."""
    monkeypatch.setenv("PSIRF_HOME", str(tmp_path / "psirf_home"))


TEST_KEY = "TEST-ONLY-key-for-pseudonymisation-tests-0123"


@pytest.fixture
def demo_estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, dict, str]]:
    """Demo data for every registered provider in its own source family, with the local provider API server
    running for the REST provider: ``(home, manifest, api_url)``. Environment points the pipeline at them."""
    from demo import mock_provider_api
    from demo.sources import demo_sources_dir, generate_demo

    home = tmp_path / "home"
    monkeypatch.setenv("PSIRF_HOME", str(home))
    monkeypatch.setenv("PSIRF_PSEUDONYMISATION_KEY", TEST_KEY)
    manifest = generate_demo(home, incidents_per_provider=40, lfpse_events_per_practice=6)
    server = mock_provider_api.start(feeds_dir=demo_sources_dir(home))
    monkeypatch.setenv("PSIRF_CONN_R1L_API", f"http://:demo-bearer-token@127.0.0.1:{server.port}/R1L/api")
    try:
        yield home, manifest, server.url
    finally:
        server.stop()


ALL_CSV_REGISTRY = Path(__file__).parent / "fixtures" / "providers_all_csv.toml"


@pytest.fixture(scope="module")
def all_csv_registry() -> Iterator[Path]:
    """Point the registry at the five trusts as CSV drops, for tests of the CSV generator and the API server."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PSIRF_REGISTRY", str(ALL_CSV_REGISTRY))
        yield ALL_CSV_REGISTRY
