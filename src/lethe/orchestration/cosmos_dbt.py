"""The dbt project as an astronomer-cosmos task group: one Airflow task per model, which builds the model and runs
its tests (`dbt build --select` the model, TestBehavior.BUILD: its unit tests, the model, its data tests).

Rendered from the pre-built manifest (`lethe.build.parse_project`, LoadMode.DBT_MANIFEST) so parsing a
DAG never runs `dbt ls`; executed in-process (InvocationMode.DBT_RUNNER). The profile is the repo's
profiles.yml (warehouse under $LETHE_HOME, keyed-hash key through lethe.dbt_plugin).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lethe.errors import ConfigError
from lethe.orchestration import POOL
from lethe.settings import DBT_PROJECT_DIR

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


def manifest_path() -> Path:
    """The pre-built manifest, or a ConfigError saying how to build it."""
    if not MANIFEST.exists():
        raise ConfigError(
            f"{MANIFEST} is missing: lethe_transform renders the dbt project from it; build it with "
            "`python -c 'from lethe.orchestration.airflow_home import ensure_manifest; ensure_manifest()'` "
            "(make airflow / make demo do this)"
        )
    return MANIFEST


def only_tests_failed(result: Any) -> bool:
    """Whether a failed dbt invocation failed only because data tests found rows (status 'fail'): the same data
    fails the same way on a retry. An error (a warehouse another process holds, a crash) may not."""
    if getattr(result, "success", True) or getattr(result, "exception", None) is not None:
        return False
    statuses = [str(getattr(r.status, "value", r.status)) for r in getattr(result.result, "results", None) or ()]
    return "fail" in statuses and not {"error", "runtime error"} & set(statuses)


def _no_retry_on_test_failures(task: Any) -> None:
    """A task whose only failures are tests that found failing rows fails at once (AirflowFailException: no
    retry), its message naming the tests; any other failure keeps the DAG's retries."""
    raise_for = task.handle_exception_dbt_runner

    def handle(result: Any) -> None:
        try:
            raise_for(result)
        except Exception as exc:
            if only_tests_failed(result):
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(f"{exc} (the data fails these tests: a retry would too)") from exc
            raise

    task.handle_exception_dbt_runner = handle


def dbt_task_group(group_id: str, as_of_template: str, select: list[str] | None = None, **kwargs: Any) -> Any:
    """A DbtTaskGroup over the project (or a selection), every task in the one-writer pool, judged at as_of; a
    task whose data tests fail is not retried.

    One task per model, not one per model plus one per model's tests (TestBehavior.AFTER_EACH, as before): a
    failing test still fails its model's task and stops what depends on it, and the run makes half as many dbt
    invocations (each loads the manifest and opens the warehouse), and half as many task processes under a real
    executor. On the 60-subject home of tests/dags the run went from 98 tasks in 291 s to 55 in 192 s."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior
    from cosmos.operators.local import DbtBuildLocalOperator

    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT_DIR,
            manifest_path=manifest_path(),
            project_name="lethe",
            install_dbt_deps=False,
            partial_parse=True,
        ),
        profile_config=ProfileConfig(
            profile_name="lethe",
            target_name="duckdb",
            profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
            dbt_executable_path=Path(sys.executable).parent / "dbt",
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,
            select=select or [],
            emit_datasets=False,
        ),
        operator_args={
            "pool": POOL,
            "install_deps": False,
            "vars": {"as_of": as_of_template},
        },
        **kwargs,
    )
    for task in group.iter_tasks():
        if isinstance(task, DbtBuildLocalOperator):
            _no_retry_on_test_failures(task)
    return group
