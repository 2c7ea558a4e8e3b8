"""The demo's Airflow home: its ``airflow.cfg`` settings, and task logs of ``airflow dags test`` the UI can show.

``make run`` runs the DAG with ``airflow dags test``, which runs every task in one process and writes no task log
files, so the UI's log view would try the (absent) worker log server on port 8793. :func:`split_test_log` cuts the
run's output (``dags-test.log``) at Airflow's ``[DAG TEST] starting task_id=...`` markers into one file per task
instance, at the path the UI reads (``logs/dag_id=.../run_id=.../task_id=.../[map_index=N/]attempt=1.log``).
:func:`follow` prints one line per task while the run goes, so ``make run`` is never silent for minutes.

:func:`write_config` writes the settings the project needs into ``$AIRFLOW_HOME/airflow.cfg``, so a scheduler or
API server started by hand on the same home behaves as ``make run`` (the DAGs folder, no examples, the executor,
the API server's address and the demo login).

Usage: ``python -m psirf.airflow_home config|follow LOG|split LOG``.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UI_PORT = int(os.environ.get("PSIRF_UI_PORT", "8080"))
ADMIN_USER = "admin"

START = re.compile(r"\[DAG TEST\] starting task_id=(?P<task>\S+) map_index=(?P<index>-?\d+)")
RUNNING = re.compile(r"\[DAG TEST\] running task <TaskInstance: (?P<dag>\S+?)\.\S+ (?P<run>\S+) ")
END = re.compile(r"\[DAG TEST\] end task task_id=(?P<task>\S+) map_index=(?P<index>-?\d+)")
STATE = re.compile(r"Task instance state updated.*new_state=(?P<state>\w+)")
PROVIDERS = re.compile(r"Returned value was: \[(?P<codes>(?:'[A-Z0-9]{3,6}'(?:, )?)+)\]")
TASK_EXITED = re.compile(r"\[error\s*\] (?P<line>.+?) \[psirf\.task\]")


def settings(airflow_home: Path) -> dict[str, dict[str, str]]:
    """What ``make run`` needs from Airflow, by ``airflow.cfg`` section."""
    return {
        "core": {"dags_folder": str(ROOT / "dags"), "load_examples": "False", "unit_test_mode": "False",
                 # the demo's UI login: one admin user, whose generated password Airflow writes to this file
                 "simple_auth_manager_users": f"{ADMIN_USER}:admin",
                 "simple_auth_manager_passwords_file": str(passwords_file(airflow_home))},
        "api": {"host": "127.0.0.1", "port": str(UI_PORT), "base_url": f"http://127.0.0.1:{UI_PORT}"},
        "logging": {"base_log_folder": str(airflow_home / "logs")},
    }


def write_config(airflow_home: Path) -> Path:
    """Set the project's settings in ``airflow.cfg`` (created if missing), keeping everything else in it."""
    path = airflow_home / "airflow.cfg"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    if path.is_file():
        parser.read(path, encoding="utf-8")
    wanted = settings(airflow_home)
    for section, values in wanted.items():
        if not parser.has_section(section):
            parser.add_section(section)
        for key, value in values.items():
            parser.set(section, key, value)
    airflow_home.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        parser.write(fh)
    return path


def passwords_file(airflow_home: Path) -> Path:
    return airflow_home / "simple_auth_manager_passwords.json.generated"


# --- the logs of `airflow dags test` --------------------------------------------------------------------------


def _sections(lines: Iterable[str]) -> Iterator[tuple[str, str, str, int, list[str]]]:
    """(dag_id, run_id, task_id, map_index, lines) for each task instance in a ``dags test`` output."""
    current: tuple[str, int] | None = None
    dag = run = ""
    body: list[str] = []
    for line in lines:
        started = START.search(line)
        if started:
            if current is not None and dag:
                yield dag, run, current[0], current[1], body
            current, body = (started["task"], int(started["index"])), [line]
            continue
        if current is None:
            continue
        running = RUNNING.search(line)
        if running and not dag:
            dag, run = running["dag"], running["run"]
        body.append(line)
        if END.search(line):
            if dag:
                yield dag, run, current[0], current[1], body
            current, body = None, []
    if current is not None and dag:
        yield dag, run, current[0], current[1], body


def task_log_path(airflow_home: Path, dag_id: str, run_id: str, task_id: str, map_index: int,
                  attempt: int = 1) -> Path:
    """Airflow's default ``log_filename_template`` under ``$AIRFLOW_HOME/logs``."""
    folder = airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    if map_index >= 0:
        folder = folder / f"map_index={map_index}"
    return folder / f"attempt={attempt}.log"


def split_test_log(log: Path, airflow_home: Path) -> list[Path]:
    """Write one log file per task instance of the ``dags test`` output ``log``; returns the files written.

    The lines keep their order. Airflow's lines before the task's own code runs are wrapped in a
    ``::group::``/``::endgroup::`` pair, as in a worker's log, which the UI shows folded: the first line shown is
    the task's own first line (for a rejected file, its one-line reason)."""
    written: list[Path] = []
    attempts: dict[tuple[str, str, str, int], int] = {}
    with log.open(encoding="utf-8", errors="replace") as fh:
        for dag, run, task, index, body in _sections(fh):
            key = (dag, run, task, index)
            attempts[key] = attempts.get(key, 0) + 1
            path = task_log_path(airflow_home, dag, run, task, index, attempts[key])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(_task_first(body)), encoding="utf-8")
            written.append(path)
    return written


def _task_first(body: list[str]) -> list[str]:
    """Open the pre-execution group at the top when the output has only its end marker."""
    ends = [i for i, line in enumerate(body) if "::endgroup::" in line]
    if ends and not any("::group::" in line for line in body[:ends[0]]):
        return ["::group::Pre task execution logs\n", *body]
    return body


def first_task_line(log_text: str) -> str:
    """The first line the UI shows unfolded: the first after the pre-execution group."""
    lines = log_text.splitlines()
    ends = [i for i, line in enumerate(lines) if "::endgroup::" in line]
    rest = lines[ends[0] + 1:] if ends else lines
    return next((line for line in rest if line.strip()), "")


def follow(log: Path, stream: Iterable[str] = sys.stdin, out: object = sys.stdout) -> int:
    """Copy ``stream`` (the ``dags test`` output) to ``log`` and print a line per finished task; returns the
    number of tasks that failed."""
    failed = 0
    state = ""
    reason = ""
    codes: list[str] = []  # the providers task's list: a mapped task's index is shown as its ODS code
    task = ""
    with log.open("w", encoding="utf-8") as fh:
        for line in stream:
            fh.write(line)
            if (started := START.search(line)) is not None:
                task = started["task"]
            elif task == "providers" and not codes and (listed := PROVIDERS.search(line)) is not None:
                codes = re.findall(r"[A-Z0-9]{3,6}", listed["codes"])
            if (found := STATE.search(line)) is not None:
                state = found["state"]
            elif (exited := TASK_EXITED.search(line)) is not None and not reason:
                reason = exited["line"].strip()
            elif (ended := END.search(line)) is not None:
                index = int(ended["index"])
                label = ended["task"] + (f"[{codes[index] if index < len(codes) else index}]" if index >= 0 else "")
                failed += state == "failed"
                text = f"    {state or 'done':<8} {label}" + (f": {reason}" if state == "failed" and reason else "")
                print(text[:200], file=out, flush=True)  # type: ignore[call-overload]
                state, reason = "", ""
    return failed


def main(argv: list[str]) -> int:
    home = Path(os.environ.get("AIRFLOW_HOME", ROOT / "var" / "airflow"))
    if argv[:1] == ["config"]:
        print(write_config(home))
        return 0
    if argv[:1] == ["follow"] and len(argv) == 2:
        follow(Path(argv[1]))
        return 0
    if argv[:1] == ["split"] and len(argv) == 2:
        files = split_test_log(Path(argv[1]), home)
        print(f"{len(files)} task log(s) under {home / 'logs'}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
