"""Task bodies of the Lethe DAGs: each resolves settings at the run's as-of and makes one call into lethe.

Return values are small JSON-able dicts (they become XComs). A LetheError (bad policy, guard trip,
unknown tenant) will not fix itself on a retry, so the DAG files turn it into a non-retried failure.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from lethe.errors import LetheError
from lethe.settings import Settings, get_settings

log = logging.getLogger(__name__)

CENTRE_TENANT = "_centre"
CENTRE_FAMILY = "centre"


class StepUnavailableError(LetheError):
    """A DAG task calls a lethe function this installation does not have."""


def settings_at(as_of: str) -> Settings:
    """The process settings judged at the run's as-of (its data interval's end)."""
    return get_settings().with_as_of(as_of)


def _function(module: str, name: str, needed_by: str) -> Callable[..., Any]:
    """lethe.<module>.<name>, or a StepUnavailableError naming the task that needs it."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
            raise StepUnavailableError(f"task {needed_by} needs {module}.{name}, but module {module} is not installed") from None
        raise
    func = getattr(mod, name, None)
    if func is None:
        raise StepUnavailableError(f"task {needed_by} needs {module}.{name} (docs/INTERFACES.md); {module} has no {name}")
    return func


def families() -> dict[str, list[str]]:
    """Source family -> datasets, as lethe.ingest loads them (one task group per family)."""
    from lethe.ingest import FAMILIES

    return {name: list(datasets) for name, datasets in FAMILIES.items()}


def tenants_for(family: str) -> list[str]:
    """The landing-zone tenants a family's ingest is mapped over (`_centre` for the centre family)."""
    if family == CENTRE_FAMILY:
        return [CENTRE_TENANT]
    from lethe.ingest import discover_tenants

    return list(discover_tenants(get_settings().landing))


def ingest(as_of: str, family: str, tenant: str) -> dict[str, Any]:
    """Load the new landing files of one family for one tenant (idempotent through the manifest)."""
    from lethe.ingest import run_ingest

    settings = settings_at(as_of)
    summary = run_ingest(settings, landing=settings.landing, families=[family], tenants=[tenant])
    log.info("%s/%s at %s:\n%s", family, tenant, as_of, summary.render())
    return {"family": family, "tenant": tenant, "as_of": as_of, "summary": summary.to_dict()}


def build(as_of: str, select: str | None = None) -> dict[str, Any]:
    """`lethe build` (optionally one selection, e.g. the staging layer) at the run's as-of."""
    from lethe.build import run_build

    result = run_build(settings_at(as_of), select=select)
    log.info(result.render())
    return {"as_of": as_of, "select": select, "result": result.render()}


def write_policy(as_of: str) -> str:
    """Write the tenant policy tables the dbt models read; return the as-of the dbt tasks run at."""
    from lethe.build import dbt_vars, write_policy

    settings = settings_at(as_of)
    write_policy(settings)
    return str(dbt_vars(settings)["as_of"])


def train_risk(as_of: str) -> dict[str, Any]:
    """Train the withdrawal-risk model and score every subject (lethe.risk.train_and_score)."""
    result = _function("lethe.risk", "train_and_score", "lethe_transform.train_risk")(settings_at(as_of))
    return {"as_of": as_of, "result": result.render() if hasattr(result, "render") else str(result)}


def process_requests(as_of: str) -> dict[str, Any]:
    """Act on verified data-subject requests due at the as-of (lethe.dsr.process_requests)."""
    result = _function("lethe.dsr", "process_requests", "lethe_enforce.process_requests")(settings_at(as_of))
    return {"as_of": as_of, "result": result.render() if hasattr(result, "render") else str(result)}


def _run_id(result: Any) -> str:
    run_id = getattr(result, "run_id", None) or (result.get("run_id") if isinstance(result, dict) else None)
    if not run_id:
        raise StepUnavailableError(f"lethe.purge.plan returned {type(result).__name__} without a run_id")
    return str(run_id)


def plan_purge(as_of: str) -> str:
    """Plan (dry run, persisted) the erasure of everything due at the as-of; return the plan's run id."""
    plan = _function("lethe.purge", "plan", "lethe_enforce.plan_purge")(settings_at(as_of))
    run_id = _run_id(plan)
    log.info("purge plan %s at %s: %s records", run_id, as_of, getattr(plan, "record_count", "?"))
    return run_id


def check_guards(as_of: str, run_id: str) -> str:
    """Refuse the planned purge (GuardError with the reason) if a guard trips; else pass the run id on."""
    _function("lethe.purge", "check_guards", "lethe_enforce.check_guards")(settings_at(as_of), run_id)
    return run_id


def execute_purge(as_of: str, run_id: str) -> str:
    """Execute the guarded plan (resumable: a retried run finishes what the killed one started)."""
    result = _function("lethe.purge", "execute", "lethe_enforce.execute_purge")(settings_at(as_of), run_id)
    log.info("%s", result.render() if hasattr(result, "render") else result)
    return run_id


def verify_purge(as_of: str, run_id: str) -> str:
    """Check that nothing the plan erased is still anywhere; raise with what is left otherwise."""
    _function("lethe.purge", "verify", "lethe_enforce.verify_purge")(settings_at(as_of), run_id)
    return run_id


def publish(as_of: str) -> str:
    """Publish the read-only serving snapshot at the as-of; return its path."""
    from lethe.publish import publish as publish_snapshot

    return str(publish_snapshot(settings_at(as_of)))
