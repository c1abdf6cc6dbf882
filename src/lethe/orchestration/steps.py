"""Task bodies of the Lethe DAGs: each resolves settings at the run's as-of and makes one call into lethe.

Return values are small JSON-able dicts (they become XComs). A LetheError (bad policy, guard trip,
unknown tenant) will not fix itself on a retry, so the DAG files turn it into a non-retried failure.
"""

from __future__ import annotations

import logging
from typing import Any

from lethe.settings import Settings, get_settings

log = logging.getLogger(__name__)

CENTRE_TENANT = "_centre"
CENTRE_FAMILY = "centre"


def settings_at(as_of: str) -> Settings:
    """The process settings judged at the run's as-of (its data interval's end)."""
    return get_settings().with_as_of(as_of)


def families() -> dict[str, list[str]]:
    """Source family -> datasets, as lethe.ingest loads them (one task group per family)."""
    from lethe.ingest import FAMILIES

    return {name: list(datasets) for name, datasets in FAMILIES.items()}


def check_policy() -> list[str]:
    """Load the tenant policy file (a ConfigError naming the file and the problem if it is bad); return its
    tenant ids."""
    from lethe.policy import load_policy

    return sorted(load_policy(get_settings().tenants_file).tenants)


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
    """`lethe build` (optionally one selection, e.g. the staging layer) at the run's as-of, never before the last
    build's: an ingest backfill of an old day recorded its as-of as the last build's, and the transform then
    rebuilt every mart at it (not_before_last_build)."""
    from lethe.build import run_build

    as_of = not_before_last_build(as_of)
    result = run_build(settings_at(as_of), select=select)
    log.info(result.render())
    return {"as_of": as_of, "select": select, "result": result.render()}


def not_before_last_build(as_of: str) -> str:
    """The as-of a transform run judges at: its own, or the last build's when that is later. A backfill of an
    old day (ingest of late files, a cleared task) would otherwise rebuild every mart at that old instant and
    publish it over the newer one: an unsubscribe since then unseen, the person back in the audience. The marts
    always describe the latest instant judged; `lethe build --as-of` is the way to judge at an earlier one."""
    from lethe.build import last_build_as_of
    from lethe.settings import parse_as_of

    last = last_build_as_of(get_settings())
    if last is None or parse_as_of(as_of) >= last:
        return as_of
    kept = last.replace(microsecond=0).isoformat()
    log.warning("this run's as-of %s is before the last build's (%s): the marts are judged at %s, never rewound",
                as_of, kept, kept)
    return kept


def write_policy(as_of: str) -> str:
    """Write the tenant policy tables the dbt models read; return the as-of the dbt tasks run at (never before
    the last build's: not_before_last_build)."""
    from lethe.build import dbt_vars, write_policy

    settings = settings_at(not_before_last_build(as_of))
    write_policy(settings)
    return str(dbt_vars(settings)["as_of"])


def train_risk(as_of: str) -> dict[str, Any]:
    """Train the withdrawal-risk model and score every subject (lethe.risk.train_and_score), at the as-of the
    run's dbt tasks judged at."""
    from lethe.risk import train_and_score

    as_of = not_before_last_build(as_of)
    result = train_and_score(settings_at(as_of))
    return {"as_of": as_of, "result": result.render() if hasattr(result, "render") else str(result)}


def process_requests(as_of: str) -> dict[str, Any]:
    """Act on verified data-subject requests due at the as-of (lethe.dsr.process_requests)."""
    from lethe.dsr import process_requests as process

    result = process(settings_at(as_of))
    return {"as_of": as_of, "result": result.render() if hasattr(result, "render") else str(result)}


def plan_purge(as_of: str) -> str:
    """Finish any purge a killed run left half done, then plan (persisted, keyed by run id) the erasure of
    everything due at the as-of; return the plan's run id."""
    from lethe.purge import plan_step, resume_unfinished

    settings = settings_at(as_of)
    resumed = resume_unfinished(settings)
    if resumed:
        log.warning("finished interrupted purge runs %s before planning", ", ".join(resumed))
    plan = plan_step(settings)
    log.info("purge plan %s at %s: %d records", plan.run_id, as_of, plan.record_count)
    return plan.run_id


def check_guards(as_of: str, run_id: str) -> str:
    """Refuse the planned purge (GuardError with the reason) if a guard trips; else pass the run id on."""
    from lethe.purge import check_guards as guard

    guard(settings_at(as_of), run_id)
    return run_id


def execute_purge(as_of: str, run_id: str) -> str:
    """Execute the guarded plan (resumable: a retried run finishes what the killed one started)."""
    from lethe.purge import execute
    from lethe.purge.engine import executed_summary

    counts = execute(settings_at(as_of), run_id)
    log.info("purge %s executed: %s", run_id, executed_summary(counts))
    return run_id


def verify_purge(as_of: str, run_id: str) -> str:
    """Check that nothing the plan erased is still anywhere; raise with what is left otherwise."""
    from lethe.purge import verify

    verify(settings_at(as_of), run_id)
    return run_id


def publish(as_of: str) -> str:
    """Publish the read-only serving snapshot at the as-of; return its path."""
    from lethe.publish import publish as publish_snapshot

    return str(publish_snapshot(settings_at(as_of)))
