"""
### lethe_enforce

Acts on what the marts say is due: data-subject requests, then the guarded purge, then the
read-only serving snapshot the dashboard reads.

`process_requests` → `plan_purge` (persisted dry run) → `check_guards` → `execute_purge` →
`verify_purge` → `publish`.

* **Scheduled on the Asset** `lethe://warehouse/marts`, which `lethe_transform` emits.
* **Guards**: a purge that would remove more than the configured share of a table, or runs on data
  that failed its contract, is refused: `check_guards` fails with the reason (no retry), nothing is
  deleted and the downstream tasks do not run. The failure is recorded for the engineer page.
* **Idempotent**: the purge is journalled by run id, so a retried `execute_purge` finishes the same plan.
* **One writer**: every task runs in the `lethe_warehouse` pool; `max_active_runs=1`.
* **as-of**: the upstream run's as-of (or this run's data interval end).
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, task

from lethe.orchestration import MARTS_ASSET_URI, POOL
from lethe.orchestration.callbacks import lethe_dag_defaults

MARTS = Asset(MARTS_ASSET_URI)


@dag(
    dag_id="lethe_enforce",
    schedule=[MARTS],
    doc_md=__doc__,
    tags=["lethe", "enforce", "purge", "writes-warehouse"],
    **lethe_dag_defaults(),
)
def lethe_enforce() -> None:
    @task(pool=POOL)
    def process_requests() -> dict:
        """Act on verified data-subject requests (erasure, restriction, objection, access)."""
        from lethe.orchestration import steps
        from lethe.orchestration.tasks import run_step

        return run_step(steps.process_requests)

    @task(pool=POOL)
    def plan_purge() -> str:
        """Plan everything due for erasure (a persisted dry run); return the plan's run id."""
        from lethe.orchestration import steps
        from lethe.orchestration.tasks import run_step

        return run_step(steps.plan_purge)

    @task(pool=POOL)
    def check_guards(purge_run_id: str) -> str:
        """Refuse the plan if a guard trips (fails with the reason; nothing is deleted)."""
        from lethe.orchestration import steps
        from lethe.orchestration.tasks import run_step

        return run_step(steps.check_guards, purge_run_id)

    @task(pool=POOL)
    def execute_purge(purge_run_id: str) -> str:
        """Delete / anonymise what the guarded plan lists, in raw tables, landing files and exports."""
        from lethe.orchestration import steps
        from lethe.orchestration.tasks import run_step

        return run_step(steps.execute_purge, purge_run_id)

    @task(pool=POOL)
    def verify_purge(purge_run_id: str) -> str:
        """Check that nothing the plan erased is left anywhere."""
        from lethe.orchestration import steps
        from lethe.orchestration.tasks import run_step

        return run_step(steps.verify_purge, purge_run_id)

    @task(pool=POOL)
    def publish() -> str:
        """Publish the read-only serving snapshot (swapped in atomically)."""
        from lethe.orchestration import steps
        from lethe.orchestration.tasks import run_step

        return run_step(steps.publish)

    requests = process_requests()
    # not `run_id`: Airflow reserves that name for the DAG run's id in a task's arguments
    purge_run_id = plan_purge()
    requests >> purge_run_id
    verified = verify_purge(execute_purge(check_guards(purge_run_id)))
    verified >> publish()


lethe_enforce()
