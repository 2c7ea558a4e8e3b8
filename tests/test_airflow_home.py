# ruff: noqa: E501
# (the sample below is real Airflow output, one record per line)
"""The demo's Airflow home: airflow.cfg carries the project's settings (so a scheduler started by hand behaves as
`make run`), and `make run` prints a line per task of `airflow dags test` with a failure's reason."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from psirf.airflow_home import ROOT, follow, passwords_file, write_config

SAMPLE = """\
2026-12-03T08:40:01.538565Z [info     ] [DAG TEST] starting task_id=providers map_index=-1 [airflow.sdk.definitions.dag]
2026-12-03T08:40:01.539315Z [info     ] [DAG TEST] running task <TaskInstance: psirf_nightly.providers manual__2026-12-03T08:40:03+00:00 [TaskInstanceState.SCHEDULED] ti_id=x> [airflow.sdk.definitions.dag]
2026-12-03T08:40:02.550101Z [info     ] Done. Returned value was: ['RAJ', 'RQW'] [airflow.task.operators.airflow.providers.standard.decorators.python._PythonDecoratedOperator] loc=python.py:233
2026-12-03T08:40:02.744763Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] new_state=success rows_affected=1
2026-12-03T08:40:02.776280Z [info     ] [DAG TEST] end task task_id=providers map_index=-1 [airflow.sdk.definitions.dag]
2026-12-03T08:40:03.538565Z [info     ] [DAG TEST] starting task_id=provider.load map_index=1 [airflow.sdk.definitions.dag]
2026-12-03T08:40:03.539315Z [info     ] [DAG TEST] running task <TaskInstance: psirf_nightly.provider.load manual__2026-12-03T08:40:03+00:00 map_index=1 [TaskInstanceState.SCHEDULED] ti_id=x> [airflow.sdk.definitions.dag]
2026-12-03T08:40:23.423373Z [info     ] ::endgroup::                   [task] loc=task_runner.py:2232
2026-12-03T08:40:23.425916Z [error    ] RQW: incidents_20261101.csv rejected: the file is empty. Nothing from this file was loaded; fix it and send it again. [psirf.task] loc=airflow_tasks.py:80
2026-12-03T08:40:23.701564Z [error    ] Task exited                    [task] exit_code='RQW: 1 of 3 file(s) rejected'
2026-12-03T08:40:23.744763Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes.task_instances] new_state=failed rows_affected=1
2026-12-03T08:40:23.776280Z [info     ] [DAG TEST] end task task_id=provider.load map_index=1 [airflow.sdk.definitions.dag]
"""


def test_follow_prints_a_line_per_task_with_the_reason(tmp_path):
    out = io.StringIO()
    failed = follow(tmp_path / "dags-test.log", io.StringIO(SAMPLE), out)
    assert failed == 1
    assert out.getvalue().splitlines()[0].strip() == "success  providers"
    assert out.getvalue().splitlines()[1].strip() == ("failed   provider.load[RQW]: RQW: incidents_20261101.csv rejected: the file is "
                                      "empty. Nothing from this file was loaded; fix it and send it again.")
    assert (tmp_path / "dags-test.log").read_text(encoding="utf-8") == SAMPLE


def test_airflow_cfg_holds_the_projects_settings(tmp_path):
    home = tmp_path / "airflow"
    (home).mkdir()
    (home / "airflow.cfg").write_text("[core]\ndags_folder = /wrong\nload_examples = True\n[webserver]\nx = 1\n")
    write_config(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")} | {"AIRFLOW_HOME": str(home)}
    keys = (("core", "dags_folder"), ("core", "load_examples"), ("api", "port"),
            ("core", "simple_auth_manager_passwords_file"))
    code = ("from airflow.configuration import conf\n"
            f"for section, key in {keys!r}: print(key + '=' + conf.get(section, key))")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=True)  # one process: Airflow reads the file as a scheduler would
    got = dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line)
    assert got == {"dags_folder": str(ROOT / "dags"), "load_examples": "False", "port": "8080",
                   "simple_auth_manager_passwords_file": str(passwords_file(home))}
    assert "[webserver]" in (home / "airflow.cfg").read_text()  # the rest of the file is kept
