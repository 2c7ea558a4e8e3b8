"""Nothing of a batch outlives it on disk: the work folder and the REST landing file (raw records, with NHS
numbers) go after success, after failure, and, after a process is killed outright, at the start of the next run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.rest_api.http_transport import ApiError
from psirf import pipeline
from psirf.cleanup import last_attempt, sweep_stale
from tests.identifiers import nhs_numbers_in
from warehouse.db import make_engine
from warehouse.locks import LOAD_LOCK_ID
from warehouse.migrate import upgrade

PSIRF = str(Path(sys.executable).with_name("psirf"))


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _leftovers(home: Path) -> list[Path]:
    found = [p for p in (home / "work").iterdir()] if (home / "work").is_dir() else []
    landing = home / "landing" / "R1L"
    return found + (sorted(landing.glob("*")) if landing.is_dir() else [])


def _nhs_numbers_on_disk(home: Path) -> list[str]:
    """Valid NHS numbers in any file under home, except the demo's source systems (the providers' own data) and
    dbt's build artefacts (manifests and logs of SQL, no rows; their epoch timestamps can pass the modulus 11 check)."""
    hits = []
    for path in home.rglob("*"):
        if not path.is_file() or {"demo_sources", "demo_feeds", "dbt"} & set(path.relative_to(home).parts):
            continue
        hits += [f"{path}: {m}" for m in nhs_numbers_in(path.read_bytes().decode("latin-1"))]  # bytes as-is
    return hits


@pytest.fixture
def duck(tmp_path, monkeypatch):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    monkeypatch.setenv("PSIRF_WAREHOUSE_URL", url)
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_a_failed_load_removes_work_folder_and_landing_file(demo_estate, duck, monkeypatch):
    home, _, _ = demo_estate

    def broken(*args, **kwargs):
        assert _leftovers(home), "the batch's files exist while it loads"
        raise RuntimeError("database went away")

    monkeypatch.setattr(pipeline, "load_batch", broken)
    with pytest.raises(RuntimeError, match="database went away"):
        pipeline.run_provider("R1L", engine=duck)
    assert _leftovers(home) == []


def test_a_failed_extract_removes_the_landing_files_it_wrote(demo_estate, duck, monkeypatch):
    home, _, _ = demo_estate
    import connectors.rest_api.family as rest_family

    real = rest_family.land_api_records
    landed: list[str] = []

    def second_entity_fails(provider, entity, *args, **kwargs):
        if landed:
            raise ApiError("R1L", f"{entity} endpoint", "connection reset")
        result = real(provider, entity, *args, **kwargs)
        landed.append(str(result.path))
        return result

    monkeypatch.setattr(rest_family, "land_api_records", second_entity_fails)
    with pytest.raises(ApiError, match="connection reset"):
        pipeline.extract_provider("R1L", engine=duck)
    assert landed and not Path(landed[0]).exists() and _leftovers(home) == []


def test_a_failed_attempt_keeps_its_files_for_the_retry_and_the_last_removes_them(demo_estate, duck, monkeypatch):
    home, _, _ = demo_estate
    refs = pipeline.process_batches(pipeline.extract_provider("R1L", engine=duck))
    monkeypatch.setattr(pipeline, "load_batch", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("blip")))
    with pytest.raises(RuntimeError):
        pipeline.load_batches("R1L", refs, engine=duck, cleanup_on_failure=False)
    kept = _leftovers(home)
    assert len(kept) == 2 * len(refs)  # a work folder and a landing file per batch, for the retry
    with pytest.raises(RuntimeError):
        pipeline.load_batches("R1L", refs, engine=duck, cleanup_on_failure=True)
    assert _leftovers(home) == []


def test_last_attempt_follows_airflow_try_numbers():
    class TI:
        def __init__(self, try_number: int, max_tries: int) -> None:
            self.try_number, self.max_tries = try_number, max_tries

    assert [last_attempt(TI(n, 2)) for n in (1, 2, 3)] == [False, False, True]
    assert last_attempt(None) is True


def test_the_sweep_removes_only_stale_leftovers(demo_estate):
    home, manifest, _ = demo_estate
    old, fresh = home / "work" / str(uuid.uuid4()), home / "work" / str(uuid.uuid4())
    for folder in (old, fresh):
        (folder / "parts").mkdir(parents=True)
        (folder / "parts" / "x.parquet").write_bytes(b"x")
    landing = home / "landing" / "R1L"
    landing.mkdir(parents=True)
    stale_landing = landing / f"incidents_{uuid.uuid4()}.jsonl"
    stale_landing.write_text("{}\n")
    export = home / manifest["providers"]["RAJ"]["files"]["incidents"]["path"]
    hours_ago = time.time() - 3 * 3600
    for path in (old, old / "parts", old / "parts" / "x.parquet", stale_landing, export):
        os.utime(path, (hours_ago, hours_ago))
    removed = sweep_stale()  # default: older than PSIRF_TASK_TIMEOUT_SECONDS (2 h)
    assert sorted(removed) == sorted([str(old), str(stale_landing)])
    assert fresh.exists() and export.exists()  # a provider's own export is never touched


@pytest.mark.slow
@pytest.mark.postgres
def test_after_a_sigkill_mid_load_a_rerun_leaves_nothing_on_disk(demo_estate, pg_warehouse):
    home, _, _ = demo_estate
    url, engine = pg_warehouse
    env = os.environ | {"PSIRF_WAREHOUSE_URL": url}
    with engine.connect() as holder:  # the load will wait here, mid-transaction, with its files staged
        holder.exec_driver_sql(f"SELECT pg_advisory_lock({LOAD_LOCK_ID})")
        proc = subprocess.Popen([PSIRF, "run", "-p", "R1L", "--no-marts"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while not holder.exec_driver_sql(  # in this database: other tests' databases take the same lock ids
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())").scalar_one():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        killed = _leftovers(home)
        assert any(p.suffix == ".jsonl" for p in killed) and any(p.parent.name == "work" for p in killed)
        assert _nhs_numbers_on_disk(home)  # the landing files hold identifiers: the check below can fail
        workers = _children(proc.pid)  # psirf run transforms in worker processes (psirf/parallel.py)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        deadline = time.monotonic() + 20
        while any(Path(f"/proc/{pid}").exists() for pid in workers):  # an orphaned worker ends by itself
            assert time.monotonic() < deadline, f"worker processes outlived their killed parent: {workers}"
            time.sleep(0.2)
        holder.exec_driver_sql(f"SELECT pg_advisory_unlock({LOAD_LOCK_ID})")
        holder.commit()
    assert all(p.exists() for p in killed)  # a killed process cleans nothing up
    time.sleep(1.2)
    rerun = subprocess.run([PSIRF, "run", "-p", "R1L", "--no-marts", "--json"],
                           env=env | {"PSIRF_TASK_TIMEOUT_SECONDS": "1"},
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(b["status"] for b in json.loads(rerun.stdout)["batches"]) == ["loaded"] * 3
    assert not any(p.exists() for p in killed)
    assert _leftovers(home) == [] and _nhs_numbers_on_disk(home) == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM batch_ledger WHERE status = 'loaded'")).scalar_one() == 3
