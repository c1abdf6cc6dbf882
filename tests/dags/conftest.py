"""Fixtures for the DAG tests: the dbt manifest the transform DAG renders from, and a parsed DagBag."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="session")
def dbt_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dbt_project/target/manifest.json, re-parsed when the project changed since it was built."""
    from lethe.orchestration.airflow_home import ensure_manifest

    os.environ.setdefault("LETHE_HOME", str(tmp_path_factory.mktemp("lethe_home_manifest")))
    return ensure_manifest()


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway AIRFLOW_HOME for in-process parsing (never the user's ~/airflow)."""
    home = tmp_path_factory.mktemp("airflow_home")
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    return home


@pytest.fixture(scope="session")
def dagbag(airflow_home: Path, dbt_manifest: Path):
    """Every DAG file in dags/, parsed the way the DAG processor parses it, with the project's pools known."""
    from airflow.dag_processing.dagbag import DagBag

    from lethe.orchestration import POOL

    return DagBag(dag_folder=str(DAGS_DIR), known_pools={"default_pool", POOL})
