"""Runtime settings from the environment: where things live and the tunable thresholds."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "config"
REFERENCE_DIR = CONFIG_DIR / "reference"


def psirf_home() -> Path:
    """Working area for generated feeds, the embedded warehouse and Airflow's home (``$PSIRF_HOME``, else ./var)."""
    return Path(os.environ.get("PSIRF_HOME", REPO_ROOT / "var")).resolve()


def warehouse_url() -> str:
    """SQLAlchemy URL of the warehouse (``$PSIRF_WAREHOUSE_URL``, else DuckDB under ``var/``)."""
    url = os.environ.get("PSIRF_WAREHOUSE_URL")
    if url:
        return url
    return f"duckdb:///{psirf_home() / 'warehouse.duckdb'}"


def registry_path() -> Path:
    return Path(os.environ.get("PSIRF_REGISTRY", CONFIG_DIR / "providers.toml"))


def profiles_dir() -> Path:
    return Path(os.environ.get("PSIRF_PROFILES_DIR", CONFIG_DIR / "profiles"))


def max_invalid_share() -> float:
    """Share of a batch's rows that may be quarantined before the whole batch is rejected."""
    return float(os.environ.get("PSIRF_MAX_INVALID_SHARE", "0.5"))


def chunk_rows() -> int:
    """``PSIRF_CHUNK_ROWS`` (default 25,000): rows of a batch file transformed and validated at a time. Peak memory
    follows this, not the file size; much smaller chunks cost more fixed per-chunk work (GX runs)."""
    value = int(os.environ.get("PSIRF_CHUNK_ROWS", "25000"))
    if value < 1:
        raise ValueError(f"PSIRF_CHUNK_ROWS must be a positive number of rows, not {value}")
    return value


def dbt_threads() -> int:
    """``PSIRF_DBT_THREADS`` (default 4): how many models and tests one dbt build runs at a time."""
    value = int(os.environ.get("PSIRF_DBT_THREADS", "4"))
    if value < 1:
        raise ValueError(f"PSIRF_DBT_THREADS must be a positive number, not {value}")
    return value


def task_timeout_seconds() -> float:
    """``PSIRF_TASK_TIMEOUT_SECONDS`` (default 7200): the ``execution_timeout`` of every DAG task, and the age after
    which a run's leftovers (work folders, REST landing files) are stale and swept at the start of the next run.
    Read when the DAG file is parsed (an environment variable, no I/O)."""
    value = float(os.environ.get("PSIRF_TASK_TIMEOUT_SECONDS", "7200"))
    if value <= 0:
        raise ValueError(f"PSIRF_TASK_TIMEOUT_SECONDS must be a positive number of seconds, not {value:g}")
    return value
