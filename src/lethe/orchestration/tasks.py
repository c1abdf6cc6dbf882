"""Run one step inside an Airflow task: resolve the run's as-of, call lethe, fail without retry on user errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from lethe.errors import LetheError
from lethe.orchestration.interval import current_as_of

T = TypeVar("T")


def run_step(step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """step(as_of, *args) with as_of = the run's data interval end. A LetheError (guard trip, bad policy,
    unknown tenant) becomes AirflowFailException: its message is the task's failure reason, and retrying
    would only repeat it. Anything else propagates and is retried: a crash, and a warehouse another process
    holds (WarehouseBusyError: `lethe dsar erase` run by hand during the hourly run; free again in a minute)."""
    from airflow.sdk.exceptions import AirflowFailException

    from lethe.errors import WarehouseBusyError

    try:
        return step(current_as_of(), *args, **kwargs)
    except WarehouseBusyError:
        raise
    except LetheError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
