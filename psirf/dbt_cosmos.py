"""The marts build as Airflow tasks: the dbt project rendered by astronomer-cosmos, one task per model.

Each model, seed and snapshot becomes a task that runs ``dbt build --select <node>`` (the node and its tests,
``TestBehavior.BUILD``) in this venv (local execution, dbt's in-process runner), so data engineers see every
model and its tests in the grid after the night's loads. A node's task runs the tests of that node alone
(``--indirect-selection cautious``): a test with several parents (a relationships test, a reconciliation) could
otherwise run before its other parents are built. Those run in the DAG's ``marts_tests`` task, after the group,
with every other test of the project (:func:`warehouse.marts.test_marts`).

Nothing runs when the DAG is parsed: the tasks are laid out from the manifest that ``psirf init`` (dbt parse)
writes to ``$PSIRF_HOME/dbt/target/manifest.json``, and the dbt target is built when a task runs, from
``PSIRF_WAREHOUSE_URL`` (:class:`WarehouseProfileMapping`), the same setting the loader uses.
"""

from __future__ import annotations

from typing import Any

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior
from cosmos.profiles.base import BaseProfileMapping

from psirf.errors import ConfigError
from warehouse.dbt_project import PROFILE_NAME, PROJECT_DIR, TARGET_NAME, manifest_path, target_for

__all__ = ["WarehouseProfileMapping", "marts_task_group"]


class WarehouseProfileMapping(BaseProfileMapping):
    """The dbt profile of the configured warehouse, built when a task runs (not from an Airflow connection).

    The password reaches dbt as an environment variable (``env_vars``), never in the profile file cosmos writes.
    """

    airflow_connection_type = "generic"

    def __init__(self) -> None:
        super().__init__(conn_id="psirf_warehouse")

    @property
    def dbt_profile_type(self) -> str:
        return target_for().type

    @property
    def profile(self) -> dict[str, Any]:
        return dict(target_for().output)

    @property
    def mock_profile(self) -> dict[str, Any]:
        return self.profile

    @property
    def env_vars(self) -> dict[str, str]:
        return {**target_for().env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DO_NOT_TRACK": "1"}


def marts_task_group(*, pool: str, group_id: str = "marts", **task_kwargs: Any) -> DbtTaskGroup:
    """The dbt project as a task group (create it inside a DAG); tasks run in ``pool`` with ``task_kwargs``."""
    manifest = manifest_path()
    if not manifest.is_file():
        raise ConfigError(f"no dbt manifest at {manifest}: run `psirf init` (it parses the dbt project) first")
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(manifest_path=manifest, project_name="psirf_warehouse", partial_parse=True),
        profile_config=ProfileConfig(profile_name=PROFILE_NAME, target_name=TARGET_NAME,
                                     profile_mapping=WarehouseProfileMapping()),
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.DBT_RUNNER,
                                         dbt_project_path=PROJECT_DIR),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.BUILD,
                                   emit_datasets=False, enable_mock_profile=False),
        # The per-column tests run inside each model's column_checks (dbt's default selector leaves them out; a
        # task's --select replaces it, so they are excluded here too).
        operator_args={"install_deps": False, "pool": pool, "dbt_cmd_flags": ["--indirect-selection", "cautious"],
                       "exclude": "selector:per_column_tests", **task_kwargs},
    )
