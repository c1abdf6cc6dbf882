"""Verify a purge: nothing the plan named survives, and nothing is still due once the due models are recomputed."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from lethe import catalog
from lethe.errors import LetheError
from lethe.purge import targets
from lethe.purge.execute import steps
from lethe.purge.files import planned_file, planned_path

log = logging.getLogger(__name__)


class VerifyError(LetheError):
    """Something the purge should have removed is still there."""


def leftovers(con: duckdb.DuckDBPyConnection, run_id: str, landing: Path) -> list[str]:
    """What the plan named that still exists: '<count> <table> <action>' lines and file paths."""
    problems: list[str] = []
    for step in steps(catalog.raw_tables(con)):
        where = step.where
        if step.table == "quarantine.rows":
            # the landing phase renumbers the quarantined rows of the files it rewrites (files._renumber_quarantine),
            # after the raw phase deleted the planned ones: their positions count the lines of the new content, so a
            # plan key (a position in the old one) no longer names them
            where += (" and not exists (select 1 from lethe_meta.purge_landing_written w where w.run_id = $run "
                      "and w.tenant_id = t.tenant_id and w.path = t.source_file)")
        n = con.execute(
            f"select count(*) from {targets.qualified(step.table)} t where {where}",  # noqa: S608
            {"run": run_id},
        ).fetchone()[0]
        if n:
            problems.append(f"{n} rows of {targets.qualified(step.table)} still to {step.action} ({step.category})")
    for tenant, dataset, rel in con.execute(
        "select tenant_id, dataset, path from lethe_meta.purge_files where run_id = ?", [run_id]
    ).fetchall():
        path = planned_path(landing, rel)
        if path.exists() and planned_file(path, landing / tenant / dataset):  # the rest is never ours to delete
            problems.append(f"file still on disk: {rel}")
    return problems


def still_due(con: duckdb.DuckDBPyConnection, tenants: list[str], kind: str, run_id: str) -> tuple[int, int]:
    """(records the run planned that the recomputed marts.retention_due still holds, records it holds that the
    plan did not name). Retention runs: the plan copies the due mart as the last build left it, and the rebuild
    recomputes it at this run's as-of, so records that fell due in between are in the second count: the next
    run takes them, they are no failure of this one. Erasure runs: the run's subjects' records (first count)."""
    if not catalog.table_exists(con, "marts", "retention_due"):
        return 0, 0
    if kind == "retention":
        planned, unplanned = con.execute(
            """
            select count(*) filter (where p.record_id is not null), count(*) filter (where p.record_id is null)
            from marts.retention_due d
            left join (select distinct tenant_id, data_category, record_id from lethe_meta.purge_plans
                       where run_id = $run) p
                on p.tenant_id = d.tenant_id and p.data_category = d.data_category and p.record_id = d.record_id
            where d.tenant_id in (select unnest($t::varchar[]))
            """,
            {"t": tenants, "run": run_id},
        ).fetchone()
        return int(planned), int(unplanned)
    return int(
        con.execute(
            "select count(*) from marts.retention_due d semi join lethe_meta.purge_identities i "
            "on i.run_id = $run and i.tenant_id = d.tenant_id and i.subject_key = d.subject_key",
            {"run": run_id},
        ).fetchone()[0]
    ), 0


def verify(con: duckdb.DuckDBPyConnection, run_id: str, landing: Path, *, kind: str, tenants: list[str],
           rebuilt: bool) -> int:
    """Raise VerifyError naming what survived; the run stays unfinished so the next run retries it. Returns how
    many records fell due after the plan's due list was built (left to the next run)."""
    problems = leftovers(con, run_id, landing)
    unplanned = 0
    if rebuilt:
        due, unplanned = still_due(con, tenants, kind, run_id)
        if due:
            problems.append(f"{due} records the run planned are still in marts.retention_due after the rebuild")
    if problems:
        raise VerifyError(f"purge {run_id} verification failed: " + "; ".join(problems[:5]))
    if unplanned:
        log.warning("purge %s: %d records fell due after the last build's due list; the next purge takes them",
                    run_id, unplanned)
    log.info("verified %s", run_id)
    return unplanned
