"""
### lethe_transform

Builds the dbt project (staging → intermediate → marts) over the raw tables, then trains and scores
the withdrawal-risk model.

* **Scheduled on the Asset** `lethe://warehouse/raw`, which `lethe_ingest` emits.
* **Every dbt model is its own task** (astronomer-cosmos, rendered from the pre-built manifest,
  executed in-process with dbt's runner) that runs `dbt build` on it: its unit tests, the model, its
  data tests. A failing model or test fails that model's task in the grid and stops what depends on it.
* **as-of**: the upstream ingest run's as-of (or this run's data interval end), passed to dbt as the
  `as_of` var; `write_policy` writes the tenant policy tables the models read first.
* **One writer**: every task that writes runs in the `lethe_warehouse` pool; `max_active_runs=1`.
* Emits the Asset `lethe://warehouse/marts`, which schedules `lethe_enforce`.
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, task

from lethe.orchestration import MARTS_ASSET_URI, POOL, RAW_ASSET_URI
from lethe.orchestration.callbacks import lethe_dag_defaults
from lethe.orchestration.cosmos_dbt import dbt_task_group

RAW = Asset(RAW_ASSET_URI)
MARTS = Asset(MARTS_ASSET_URI)


@dag(
    dag_id="lethe_transform",
    schedule=[RAW],
    doc_md=__doc__,
    tags=["lethe", "transform", "dbt", "writes-warehouse"],
    **lethe_dag_defaults(),
)
def lethe_transform() -> None:
    @task(pool=POOL)
    def write_policy() -> str:
        """Write the tenant policy tables; return the as-of every dbt task runs at."""
        from lethe.orchestration import steps
        from lethe.orchestration.tasks import run_step

        return run_step(steps.write_policy)

    @task(pool=POOL, outlets=[MARTS])
    def train_risk() -> dict:
        """Train and score the withdrawal-risk model, then announce the marts Asset."""
        from lethe.orchestration import MARTS_ASSET_URI, steps
        from lethe.orchestration.interval import emit_as_of
        from lethe.orchestration.tasks import run_step

        result = run_step(steps.train_risk)
        emit_as_of(MARTS_ASSET_URI, result["as_of"])
        return result

    policy = write_policy()
    dbt = dbt_task_group("dbt", as_of_template="{{ ti.xcom_pull(task_ids='write_policy') }}")
    policy >> dbt >> train_risk()


lethe_transform()
