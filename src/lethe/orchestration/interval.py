"""The instant a task judges at: its data interval's end, or the upstream run's when an Asset triggered it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

AS_OF_EXTRA = "as_of"
"""Key of the asset event `extra` where an upstream DAG records the as-of it ran at."""


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def as_of_from_context(context: Mapping[str, Any]) -> str:
    """ISO 8601 as-of for a task: the latest upstream as-of of the triggering asset events, else the
    data interval's end, else the run's logical date or run_after (Airflow 3 asset runs have no interval)."""
    upstream: list[str] = []
    events = context.get("triggering_asset_events") or {}
    for asset_events in events.values():
        for event in asset_events:
            extra = getattr(event, "extra", None) or {}
            if extra.get(AS_OF_EXTRA):
                upstream.append(str(extra[AS_OF_EXTRA]))
    if upstream:
        from lethe.settings import parse_as_of

        return _iso(max(parse_as_of(v) for v in upstream))
    for key in ("data_interval_end", "logical_date"):
        value = context.get(key)
        if value is not None:
            return _iso(value)
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None)
    if run_after is not None:
        return _iso(run_after)
    return _iso(datetime.now(UTC))


def current_as_of() -> str:
    """as_of_from_context for the running Airflow task."""
    from airflow.sdk import get_current_context

    return as_of_from_context(get_current_context())


def emit_as_of(asset_uri: str, as_of: str) -> None:
    """Record the as-of on the asset event the running task emits, for downstream DAGs to judge at."""
    from airflow.sdk import Asset, get_current_context

    context = get_current_context()
    context["outlet_events"][Asset(asset_uri)].extra = {AS_OF_EXTRA: as_of}
    log.info("emitted %s with as_of=%s", asset_uri, as_of)
