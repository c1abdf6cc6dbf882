"""Airflow glue shared by the DAG files in dags/: assets, the one-writer pool, callbacks, task steps.

Nothing here computes data: each step resolves the run's `--as-of` and makes one call into lethe.
Only `callbacks`, `interval` and `cosmos_dbt` import Airflow, and only when used.
"""

from __future__ import annotations

from datetime import timedelta

POOL = "lethe_warehouse"
"""The pool with one slot that every task writing the DuckDB warehouse runs in (DuckDB has one writer)."""

POOL_DESCRIPTION = "Lethe: DuckDB allows one writing process; every task that writes the warehouse runs here"

RAW_ASSET_URI = "lethe://warehouse/raw"
MARTS_ASSET_URI = "lethe://warehouse/marts"

INGEST_SCHEDULE_VARIABLE = "lethe_ingest_schedule"
"""Airflow Variable (or env AIRFLOW_VAR_LETHE_INGEST_SCHEDULE) overriding the ingest DAG's schedule."""

DEFAULT_INGEST_SCHEDULE = "@hourly"

RETRIES = 2
RETRY_DELAY = timedelta(seconds=30)
# a hung task (a dbt or DuckDB call that never returns) would hold the one-slot pool and, with one active run per
# DAG, stop all three DAGs for good: a task is stopped after TASK_TIMEOUT (the slowest, a 200,000-subject purge or
# the enforce DAG's requests, take minutes) and a run after RUN_TIMEOUT
TASK_TIMEOUT = timedelta(hours=4)
RUN_TIMEOUT = timedelta(hours=12)

__all__ = [
    "DEFAULT_INGEST_SCHEDULE",
    "INGEST_SCHEDULE_VARIABLE",
    "MARTS_ASSET_URI",
    "POOL",
    "POOL_DESCRIPTION",
    "RAW_ASSET_URI",
    "RETRIES",
    "RETRY_DELAY",
    "RUN_TIMEOUT",
    "TASK_TIMEOUT",
]
