"""The dbt project as an astronomer-cosmos task group: one Airflow task per model and per model's tests.

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


def dbt_task_group(group_id: str, as_of_template: str, select: list[str] | None = None, **kwargs: Any) -> Any:
    """A DbtTaskGroup over the project (or a selection), every task in the one-writer pool, judged at as_of."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    return DbtTaskGroup(
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
            test_behavior=TestBehavior.AFTER_EACH,
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
