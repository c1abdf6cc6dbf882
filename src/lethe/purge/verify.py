"""Verify a purge: nothing the plan named survives, and nothing is still due once the due models are recomputed."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from lethe import catalog
from lethe.errors import LetheError
from lethe.purge import targets
from lethe.purge.execute import steps

log = logging.getLogger(__name__)


class VerifyError(LetheError):
    """Something the purge should have removed is still there."""


def leftovers(con: duckdb.DuckDBPyConnection, run_id: str, landing: Path) -> list[str]:
    """What the plan named that still exists: '<count> <table> <action>' lines and file paths."""
    problems: list[str] = []
    for step in steps(catalog.raw_tables(con)):
        n = con.execute(
            f"select count(*) from {targets.qualified(step.table)} t where {step.where}",  # noqa: S608
            {"run": run_id},
        ).fetchone()[0]
        if n:
            problems.append(f"{n} rows of {targets.qualified(step.table)} still to {step.action} ({step.category})")
    for (rel,) in con.execute("select path from lethe_meta.purge_files where run_id = ?", [run_id]).fetchall():
        path = Path(rel) if rel.startswith("/") else landing / rel
        if path.exists():
            problems.append(f"file still on disk: {rel}")
    return problems


def still_due(con: duckdb.DuckDBPyConnection, tenants: list[str], kind: str, run_id: str) -> int:
    """Rows of the recomputed marts.retention_due that a retention run should have removed (0 for erasure runs
    means none of the run's subjects is due any more)."""
    if not catalog.table_exists(con, "marts", "retention_due"):
        return 0
    if kind == "retention":
        return int(
            con.execute(
                "select count(*) from marts.retention_due where tenant_id in (select unnest($t::varchar[]))",
                {"t": tenants},
            ).fetchone()[0]
        )
    return int(
        con.execute(
            "select count(*) from marts.retention_due d semi join lethe_meta.purge_identities i "
            "on i.run_id = $run and i.tenant_id = d.tenant_id and i.subject_key = d.subject_key",
            {"run": run_id},
        ).fetchone()[0]
    )


def verify(con: duckdb.DuckDBPyConnection, run_id: str, landing: Path, *, kind: str, tenants: list[str], rebuilt: bool) -> None:
    """Raise VerifyError naming what survived; the run stays unfinished so the next run retries it."""
    problems = leftovers(con, run_id, landing)
    if rebuilt:
        due = still_due(con, tenants, kind, run_id)
        if due:
            problems.append(f"{due} records still in marts.retention_due after the rebuild")
    if problems:
        raise VerifyError(f"purge {run_id} verification failed: " + "; ".join(problems[:5]))
    log.info("verified %s", run_id)
