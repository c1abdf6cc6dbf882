"""Prepare an Airflow home for Lethe: environment, metadata DB, the one-writer pool, the dbt manifest.

Used by `make airflow` (scripts/airflow_standalone.py), `make demo` and the DAG tests; every Airflow
command runs as a subprocess so each home's configuration is read fresh.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lethe.errors import LetheError
from lethe.orchestration import POOL, POOL_DESCRIPTION
from lethe.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

DAGS_DIR = PROJECT_ROOT / "dags"
DAG_IDS = ("lethe_ingest", "lethe_transform", "lethe_enforce")


class AirflowCommandError(LetheError):
    """An `airflow` command failed."""


@dataclass(frozen=True)
class AirflowHome:
    """An Airflow home and the environment every airflow command for it runs with."""

    path: Path
    env: dict[str, str]

    def airflow(self, *args: str, timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `airflow ARGS` for this home; raise AirflowCommandError naming the command when it fails."""
        cmd = [str(Path(sys.executable).parent / "airflow"), *args]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise AirflowCommandError(f"`airflow {' '.join(args)}` exited {proc.returncode}:\n{tail}")
        return proc


def airflow_env(airflow_home: Path, base: Mapping[str, str], lethe_home: Path | None = None,
                extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for an Airflow home: SQLite metadata DB there, Lethe's dags/, no examples."""
    env = dict(base)
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"(airflow|lethe|cosmos)\..*",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO"),
            # cosmos reports every task and DAG run to its vendor's usage endpoint by default; a
            # pipeline that handles personal data makes no outbound calls nobody asked for
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": env.get("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False"),
            "PATH": bin_dir + ":" + env.get("PATH", ""),
            "PYTHONPATH": str(DAGS_DIR) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
        }
    )
    if lethe_home is not None:
        env["LETHE_HOME"] = str(lethe_home)
    if extra:
        env.update(extra)
    return env


def landing_policy_file(environ: Mapping[str, str], landing: Path) -> Path | None:
    """The policy file `make demo` generated with its landing zone (<landing>/tenants.yml), for Airflow runs on
    that landing zone when LETHE_TENANTS is not set; None when it is set or there is none. Without it, `make
    airflow` after `make demo` judged the demo's tenants by the project's config/tenants.yml (other retention
    and purge guards) while the demo's own runs used the generated one."""
    if environ.get("LETHE_TENANTS"):
        return None
    generated = landing / "tenants.yml"
    return generated if generated.is_file() else None


def ensure_pool(home: AirflowHome) -> None:
    """Create (or reset) the `lethe_warehouse` pool with exactly one slot."""
    home.airflow("pools", "set", POOL, "1", POOL_DESCRIPTION)
    log.info("pool %s has 1 slot in %s", POOL, home.path)


def prepare(airflow_home: Path, base: Mapping[str, str], lethe_home: Path | None = None,
            extra: Mapping[str, str] | None = None, reserialize: bool = True) -> AirflowHome:
    """Migrate the metadata DB, create the pool, pre-build the dbt manifest and serialise the DAGs."""
    airflow_home.mkdir(parents=True, exist_ok=True)
    home = AirflowHome(airflow_home, airflow_env(airflow_home, base, lethe_home, extra))
    ensure_manifest()
    home.airflow("db", "migrate")
    ensure_pool(home)
    if reserialize:
        home.airflow("dags", "reserialize")
    return home


def manifest_is_stale(manifest: Path | None = None) -> bool:
    """True when the manifest is missing or older than a file of the dbt project."""
    from lethe.orchestration.cosmos_dbt import MANIFEST
    from lethe.settings import DBT_PROJECT_DIR

    manifest = manifest or MANIFEST
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        sources.extend(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    return any(p.stat().st_mtime > built for p in sources if p.exists())


def ensure_manifest(force: bool = False) -> Path:
    """`dbt parse` the project into dbt_project/target/manifest.json (which lethe_transform renders
    from) when it is missing or older than the project."""
    from lethe.build import parse_project
    from lethe.orchestration.cosmos_dbt import MANIFEST
    from lethe.settings import get_settings

    if not force and not manifest_is_stale():
        return MANIFEST
    log.info("parsing the dbt project into %s", MANIFEST)
    return parse_project(get_settings())


def dags_test(home: AirflowHome, dag_id: str, logical_date: str, timeout: float | None = 1800,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    """`airflow dags test DAG_ID DATE`: one in-process run on this home's metadata DB."""
    return home.airflow("dags", "test", dag_id, logical_date, timeout=timeout, check=check)


def run_in_order(home: AirflowHome, logical_date: str, dag_ids: Sequence[str] = DAG_IDS) -> None:
    """Run the DAGs one after another for one date, as the asset schedule would."""
    for dag_id in dag_ids:
        dags_test(home, dag_id, logical_date)
