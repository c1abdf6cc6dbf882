"""
### lethe_ingest

Loads every new landing-zone file into the DuckDB warehouse's `raw` tables, validated against its
data contract (bad rows to `quarantine`), then builds the dbt staging views on top.

* **The policy file is read first** (`check_policy`): a bad one fails that task alone, with one line
  naming the file and the problem; nothing is loaded until it is corrected.
* **One task group per source family**, each mapped over the tenant folders of the landing zone
  (`_centre` for agents and breaches). New tenants appear without editing this file.
* **Idempotent**: files already in the manifest are skipped, re-deliveries deduplicated, so a retry or
  a cleared run loads nothing twice.
* **One writer**: every task runs in the `lethe_warehouse` pool (one slot); `max_active_runs=1`.
* **as-of**: every task judges at its data interval's end.
* **Schedule**: hourly by default; set the Airflow Variable `lethe_ingest_schedule` (or the environment
  variable `AIRFLOW_VAR_LETHE_INGEST_SCHEDULE`) to a cron expression or preset to change it.
* Emits the Asset `lethe://warehouse/raw`, which schedules `lethe_transform`.
"""

from __future__ import annotations

from airflow.sdk import Asset, Variable, dag, task, task_group

from lethe.orchestration import (
    DEFAULT_INGEST_SCHEDULE,
    INGEST_SCHEDULE_VARIABLE,
    POOL,
    RAW_ASSET_URI,
)
from lethe.orchestration.callbacks import lethe_dag_defaults
from lethe.orchestration.steps import families

RAW = Asset(RAW_ASSET_URI)


@dag(
    dag_id="lethe_ingest",
    schedule=Variable.get(INGEST_SCHEDULE_VARIABLE, default=DEFAULT_INGEST_SCHEDULE),
    doc_md=__doc__,
    tags=["lethe", "ingest", "writes-warehouse"],
    **lethe_dag_defaults(),
)
def lethe_ingest() -> None:
    @task
    def check_policy() -> list[str]:
        """Read the tenant policy file once, before any load: a bad one fails this task alone, with its one line,
        instead of every mapped load task with the same error."""
        from lethe.orchestration.steps import check_policy as check
        from lethe.orchestration.tasks import run_step

        return run_step(lambda _as_of: check())

    @task
    def tenants(family: str) -> list[str]:
        """The tenant folders this family is loaded for (a missing landing zone fails at once, not retried)."""
        from lethe.orchestration.steps import tenants_for
        from lethe.orchestration.tasks import run_step

        return run_step(lambda _as_of: tenants_for(family))

    @task(pool=POOL, map_index_template="{{ tenant }}")
    def load(family: str, tenant: str) -> dict:
        """Load one family's new files for one tenant."""
        from lethe.orchestration import steps
        from lethe.orchestration.tasks import run_step

        return run_step(steps.ingest, family, tenant)

    @task(pool=POOL, outlets=[RAW])
    def build_staging() -> dict:
        """Build the dbt staging views over the raw tables, then announce the raw Asset."""
        from lethe.orchestration import RAW_ASSET_URI, steps
        from lethe.orchestration.interval import emit_as_of
        from lethe.orchestration.tasks import run_step

        result = run_step(steps.build, "staging")
        emit_as_of(RAW_ASSET_URI, result["as_of"])
        return result

    policy = check_policy()
    loaded = []
    for family in families():

        @task_group(group_id=family)
        def ingest_family(family: str = family) -> None:
            folders = tenants(family)
            policy >> folders
            load.partial(family=family).expand(tenant=folders)

        loaded.append(ingest_family())

    loaded >> build_staging()


lethe_ingest()
