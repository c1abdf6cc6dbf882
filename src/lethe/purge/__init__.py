"""Purge: plan what is due, guard, execute everywhere the data lives, verify, and audit (`lethe purge`).

Airflow calls the steps one by one (`plan_step`, `check_guards`, `execute`, `verify`); the plan is
persisted in `lethe_meta.purge_plans` keyed by run id between them.
"""

from __future__ import annotations

from lethe.purge.engine import (
    PurgeResult,
    check_guards,
    execute,
    plan_step,
    resume_unfinished,
    run_engine,
    verify,
)
from lethe.settings import Settings

__all__ = [
    "PurgeResult",
    "check_guards",
    "execute",
    "plan_step",
    "resume_unfinished",
    "run_engine",
    "run_purge",
    "verify",
]


def run_purge(settings: Settings, dry_run: bool) -> PurgeResult:
    """Plan and (unless dry_run) execute the retention purge of everything marts.retention_due lists."""
    return run_engine(settings, kind="retention", dry_run=dry_run)
