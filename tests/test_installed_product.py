"""The product installs on its own (issue 12): a wheel of this repository, installed with plain pip into a fresh
virtual environment with its pinned runtime dependencies, runs ``psirf --help`` and carries no demo, mock server,
test code or test tools.

``requirements-runtime.lock`` (the product's full pinned set, no dev extra) is installed with ``--no-deps`` (the
README's `pip install --no-deps -r requirements-runtime.lock`; uv here, for speed), then the wheel with pip,
``--no-deps``. A bare ``pip install .`` would resolve the same set, except that dbt-core 1.12 requires
dbt-core-experimental-parser, published only as a source distribution whose build downloads its binary from
GitHub, which this network cannot reach; the lock leaves it out (``requirements-overrides.txt``: dbt calls it only
with ``--use-v2-parser``). ``pip check`` must therefore name that one requirement and nothing else.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).with_name("uv")


@pytest.mark.slow
def test_a_wheel_installed_alone_runs_the_cli_without_demo_or_test_code(tmp_path: Path) -> None:
    if not UV.exists():
        pytest.fail(f"uv is not in the project's venv ({UV}): run `make venv`")
    wheels = tmp_path / "wheels"
    # sdist first, then the wheel from it (in a scratch folder): nothing is built inside the checkout
    subprocess.run([str(UV), "build", "--out-dir", str(wheels), str(ROOT)], check=True,
                   capture_output=True, cwd=tmp_path)
    [wheel] = wheels.glob("psirf_platform-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    # pip itself from the project's venv (`--python` installs into the fresh one): no network to bootstrap pip.
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    # The pinned set through uv (the same `--no-deps` install as pip's, from uv's cache: a minute faster), then the
    # product itself through plain pip.
    subprocess.run([str(UV), "pip", "install", "--quiet", "--no-deps", "--python", str(python), "-r",
                    str(ROOT / "requirements-runtime.lock")], check=True, capture_output=True)
    done = subprocess.run([*pip, "install", "--quiet", "--no-deps", "--no-compile", str(wheel)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    check = subprocess.run([*pip, "check"], capture_output=True, text=True)
    [missing] = check.stdout.strip().splitlines()
    assert missing.startswith("dbt-core 1.12.") and "requires dbt-core-experimental-parser" in missing, check.stdout
    shown = subprocess.run([str(venv / "bin" / "psirf"), "--help"], capture_output=True, text=True, cwd=tmp_path,
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "run" in shown.stdout and "check" in shown.stdout
    for module in ("demo", "tests", "bench", "pytest", "hypothesis", "aiosmtpd", "ruff", "mypy"):
        found = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, cwd=tmp_path)
        assert found.returncode != 0, f"{module} is installed with the product"


def _pins(lock: Path) -> dict[str, str]:
    pins = (line.split(" ")[0].split("==") for line in lock.read_text().splitlines() if "==" in line.split(" ")[0])
    return {name.lower(): version for name, version in pins}


def test_the_runtime_lock_is_the_dev_lock_without_the_dev_tools() -> None:
    runtime, full = _pins(ROOT / "requirements-runtime.lock"), _pins(ROOT / "requirements.lock")
    assert {name: (version, full.get(name)) for name, version in runtime.items() if full.get(name) != version} == {}
    assert {"apache-airflow", "dbt-core", "great-expectations"} <= runtime.keys()
    assert not {"pytest", "ruff", "mypy", "aiosmtpd", "hypothesis"} & runtime.keys()
