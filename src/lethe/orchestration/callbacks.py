"""Airflow callbacks that record runs and failures as JSON lines under $LETHE_HOME/runs/.

Files, not the warehouse: a failing task may hold (or be blocked by) the DuckDB lock. `lethe.publish`
copies both files into the snapshot's `pipeline.runs` / `pipeline.failures` for the engineer page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lethe.fsutil import append_line

log = logging.getLogger(__name__)

RUNS_FILE = "runs.jsonl"
FAILURES_FILE = "failures.jsonl"


def _append(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line with a single O_APPEND write, so concurrent writers never interleave."""
    append_line(path, json.dumps(record, default=str, sort_keys=False), 0o644, durable=False)


def _runs_dir() -> Path:
    from lethe.settings import get_settings

    return get_settings().runs_dir


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.replace(tzinfo=UTC).isoformat()
    return str(value)


def _reason(context: Mapping[str, Any]) -> str:
    exc = context.get("exception")
    if exc is None:
        return str(context.get("reason") or "failed (no exception recorded)")
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0]}"


def failure_record(context: Mapping[str, Any]) -> dict[str, Any]:
    """The failures.jsonl line for a failed task: dag, task, run, try, reason, at."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    map_index = getattr(ti, "map_index", -1)
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "map_index": None if map_index in (None, -1) else map_index,
        "run_id": getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "reason": _reason(context),
        "at": datetime.now(UTC).isoformat(),
    }


def record_task_failure(context: Mapping[str, Any]) -> None:
    """on_failure_callback for every task: append the failure to $LETHE_HOME/runs/failures.jsonl."""
    record = failure_record(context)
    _append(_runs_dir() / FAILURES_FILE, record)
    log.error("recorded failure of %s.%s: %s", record["dag_id"], record["task_id"], record["reason"])


def run_record(context: Mapping[str, Any], state: str) -> dict[str, Any]:
    """The runs.jsonl line for a finished DAG run."""
    dag_run = context.get("dag_run")
    return {
        "dag_id": getattr(dag_run, "dag_id", None) or getattr(context.get("dag"), "dag_id", None),
        "run_id": getattr(dag_run, "run_id", None),
        "state": state,
        "run_type": str(getattr(dag_run, "run_type", "") or "") or None,
        "data_interval_end": _iso(getattr(dag_run, "data_interval_end", None)),
        "start_date": _iso(getattr(dag_run, "start_date", None)),
        "end_date": _iso(getattr(dag_run, "end_date", None)) or datetime.now(UTC).isoformat(),
        "reason": None if state == "success" else str(context.get("reason") or "a task failed"),
    }


def record_run_success(context: Mapping[str, Any]) -> None:
    """DAG on_success_callback: append the run to $LETHE_HOME/runs/runs.jsonl."""
    _append(_runs_dir() / RUNS_FILE, run_record(context, "success"))


def record_run_failure(context: Mapping[str, Any]) -> None:
    """DAG on_failure_callback: append the failed run to $LETHE_HOME/runs/runs.jsonl."""
    _append(_runs_dir() / RUNS_FILE, run_record(context, "failed"))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a runs/failures file (missing file: none)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def lethe_dag_defaults() -> dict[str, Any]:
    """The `@dag(...)` arguments every Lethe DAG shares: a fixed start, no catchup, one active run
    (one writer), retries with a delay, timeouts for a task and a run, and the callbacks that record task failures and run outcomes
    for the engineer page. A DAG file adds its id, schedule, tags and doc."""
    from lethe.orchestration import RETRIES, RETRY_DELAY, RUN_TIMEOUT, TASK_TIMEOUT

    return {
        "start_date": datetime(2025, 1, 1, tzinfo=UTC),
        "catchup": False,
        "max_active_runs": 1,
        "dagrun_timeout": RUN_TIMEOUT,
        "default_args": {"retries": RETRIES, "retry_delay": RETRY_DELAY, "execution_timeout": TASK_TIMEOUT,
                         "on_failure_callback": record_task_failure},
        "on_success_callback": record_run_success,
        "on_failure_callback": record_run_failure,
    }
