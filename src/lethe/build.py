"""`lethe build`: write the tenant policy into the warehouse, then build the dbt project in-process.

The keyed-hash key reaches dbt's connections only through lethe.dbt_plugin; dbt's artifacts and
logs go under $LETHE_HOME/dbt, so parallel builds on different homes never share a target folder.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from lethe.errors import LetheError
from lethe.policy import Policy, load_policy
from lethe.settings import DBT_PROJECT_DIR, Settings

log = logging.getLogger(__name__)

_NODE_KINDS = {"model": "models", "test": "tests", "unit_test": "tests", "seed": "models", "snapshot": "models"}


class BuildError(LetheError):
    """A dbt model or test failed, or dbt itself could not run."""


@dataclass(frozen=True)
class BuildResult:
    """Counts of what dbt built and checked, and how long it took."""

    models_passed: int
    models_failed: int
    models_skipped: int
    tests_passed: int
    tests_failed: int
    tests_skipped: int
    elapsed: float
    target_dir: Path

    def render(self) -> str:
        return (
            f"dbt build: {self.models_passed} models built, {self.models_failed} failed, "
            f"{self.models_skipped} skipped; {self.tests_passed} tests passed, {self.tests_failed} failed, "
            f"{self.tests_skipped} skipped ({self.elapsed:.1f} s)"
        )


def dbt_target_dir(settings: Settings) -> Path:
    """Where this home's dbt artifacts (manifest, run_results, compiled SQL) go."""
    return settings.home / "dbt" / "target"


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The as_of instant (naive UTC ISO 8601): `lethe build` hands it to dbt as LETHE_DBT_AS_OF, read when the SQL
    runs (see the as_of() macro), so that dbt's partial parsing survives a new as-of; the Airflow DAG's cosmos
    tasks pass it as --vars."""
    return {"as_of": settings.as_of.strftime("%Y-%m-%dT%H:%M:%S")}


def policy_frames(policy: Policy) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The tenant policy as the two lethe_meta tables the dbt models read."""
    tenants = pl.DataFrame(
        {
            "tenant_id": [t.tenant_id for t in policy.tenants.values()],
            "controller": [t.controller for t in policy.tenants.values()],
            "dsr_sla_days": [t.dsr_sla_days for t in policy.tenants.values()],
            "consent_refresh_days": [t.consent_refresh_days for t in policy.tenants.values()],
        },
        schema={"tenant_id": pl.Utf8, "controller": pl.Utf8, "dsr_sla_days": pl.Int32, "consent_refresh_days": pl.Int32},
    )
    rows = policy.retention_rows()
    retention = pl.DataFrame(
        {"tenant_id": [r[0] for r in rows], "data_category": [r[1] for r in rows], "retention_days": [r[2] for r in rows]},
        schema={"tenant_id": pl.Utf8, "data_category": pl.Utf8, "retention_days": pl.Int32},
    )
    return tenants, retention


def write_policy(settings: Settings) -> Policy:
    """Load the tenant policy file and replace lethe_meta.tenant_policy / retention_policy with it."""
    from lethe.warehouse import connect

    policy = load_policy(settings.tenants_file)
    tenant_policy, retention_policy = policy_frames(policy)
    con = connect(settings)
    try:
        con.execute("create or replace table lethe_meta.tenant_policy as select * from tenant_policy")
        con.execute("create or replace table lethe_meta.retention_policy as select * from retention_policy")
        con.execute(
            "create table if not exists lethe_meta.dsr_fulfilments "
            "(tenant_id varchar, request_id varchar, action varchar, fulfilled_at timestamp)"
        )
    finally:
        con.close()
    return policy


@contextmanager
def _dbt_environment(settings: Settings, target: str) -> Iterator[None]:
    """LETHE_HOME and the target for profiles.yml, the as-of for the as_of() macro, and the key for
    lethe.dbt_plugin, during one dbt call."""
    from lethe.dbt_plugin import using_settings

    saved = {name: os.environ.get(name) for name in ("LETHE_HOME", "LETHE_DBT_TARGET", "LETHE_DBT_AS_OF")}
    os.environ["LETHE_HOME"] = str(settings.home)
    os.environ["LETHE_DBT_TARGET"] = target
    os.environ["LETHE_DBT_AS_OF"] = dbt_vars(settings)["as_of"]
    try:
        with using_settings(settings):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _invoke(settings: Settings, args: list[str], target: str, target_dir: Path) -> Any:
    from dbt.cli.main import dbtRunner

    argv = [
        *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_dir),
        "--log-path", str(target_dir.parent / "logs"),
        "--target", target,
        "--quiet",
    ]
    with _dbt_environment(settings, target):
        try:
            return dbtRunner().invoke(argv)
        finally:
            if target == "duckdb":
                _release_duckdb()


def _release_duckdb() -> None:
    """Close dbt-duckdb's cached database handle, so the warehouse can be reopened (read-only too)."""
    import gc

    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()
    gc.collect()


def _one_line(error: object, limit: int = 3) -> str:
    """The first few non-empty lines of a dbt error, joined into one line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not set(line.strip()) <= set("-=")]
    return " | ".join(lines[:limit]) or type(error).__name__


def _status(result: Any) -> str:
    return str(getattr(result.status, "value", result.status)).lower()


def run_build(
    settings: Settings,
    select: str | None = None,
    *,
    target: str = "duckdb",
    full_refresh: bool = False,
    unit_tests: bool = True,
) -> BuildResult:
    """Build (run + test) the dbt project at settings.as_of; raise BuildError naming the first failing node.

    Incremental models (per-event folds over raw tables, `materialized=incremental` in dbt_project) fold rows loaded
    since the last build; full_refresh=True (`--full-refresh`) rebuilds them from the raw layer, which every
    rebuild after a purge or erasure must do so that no deleted raw row survives in a derived table.
    unit_tests=False leaves out dbt unit tests (they check the models' logic on fixed inputs, not the data: a
    purge's rebuild changes data only); data tests always run.
    """
    start = time.perf_counter()
    if target == "duckdb":
        write_policy(settings)
    else:
        load_policy(settings.tenants_file)  # refuse an invalid policy file before anything runs
    if target == "spark":
        from lethe.dbt_plugin import configure_spark

        configure_spark(settings)
    target_dir = dbt_target_dir(settings) if target == "duckdb" else settings.home / "dbt" / f"target-{target}"
    args = ["build"] + (["--select", select] if select else []) + (["--full-refresh"] if full_refresh else [])
    args += [] if unit_tests else ["--exclude-resource-type", "unit_test"]
    res = _invoke(settings, args, target, target_dir)
    if res.exception is not None:
        raise BuildError(f"dbt build could not run: {_one_line(res.exception)}")
    counts = {f"{kind}_{state}": 0 for kind in ("models", "tests") for state in ("passed", "failed", "skipped")}
    failures: list[str] = []
    for node_result in res.result.results if res.result is not None else []:
        node = node_result.node
        kind = _NODE_KINDS.get(str(getattr(node.resource_type, "value", node.resource_type)), "models")
        status = _status(node_result)
        if status in ("success", "pass", "warn"):
            counts[f"{kind}_passed"] += 1
        elif status == "skipped":
            counts[f"{kind}_skipped"] += 1
        else:
            counts[f"{kind}_failed"] += 1
            failures.append(f"{node.resource_type} {node.name} {status}: {_one_line(node_result.message or status, 2)}")
    result = BuildResult(**counts, elapsed=time.perf_counter() - start, target_dir=target_dir)
    log.info(result.render())
    if failures or not res.success:
        first = failures[0] if failures else "dbt reported failure"
        more = f" (and {len(failures) - 1} more; see {target_dir / 'run_results.json'})" if len(failures) > 1 else ""
        raise BuildError(f"dbt build failed: {first}{more}")
    return result


def parse_project(settings: Settings) -> Path:
    """`dbt parse` into dbt_project/target/manifest.json (the pre-built manifest Airflow/cosmos reads)."""
    target_dir = DBT_PROJECT_DIR / "target"
    res = _invoke(settings, ["parse"], "duckdb", target_dir)
    if not res.success:
        reason = _one_line(res.exception) if res.exception else "see dbt logs"
        raise BuildError(f"dbt parse of {DBT_PROJECT_DIR} failed: {reason}")
    return target_dir / "manifest.json"
