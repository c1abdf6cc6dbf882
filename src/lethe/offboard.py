"""Offboarding: delete everything held for a tenant whose contract with the contact centre has ended.

GDPR Art. 28(3)(g): at the end of the services the processor deletes the controller's personal data. The
tenant must first be taken out of the tenant policy file (the list of current clients): from then on ingest
leaves its landing folder alone and `lethe build` refuses to run while the warehouse still holds its data,
pointing here. `offboard` then deletes, for that tenant only:

- its rows in every warehouse table that has a `tenant_id` (raw, quarantine, derived tables, the ingest
  manifest, record copies, tombstones, the purge journal, request bookkeeping), in one transaction; the
  contact centre's own records (its agents and the breach register, `_centre`) stay;
- its landing folder and its exports folder, whole;
- then compacts the warehouse file (so the deleted rows' bytes are gone) and re-publishes the snapshot.

Refused, with one line and nothing deleted: a tenant still in the policy file, one with an open legal hold
at the as-of (held data must be kept, or handed over, before it can go), an unfinished purge run, a tenant
of which nothing is held. Every step is idempotent: a run killed part-way and run again converges, and the
audit log has an entry when it starts and one when it is done (a re-run that finishes a stopped offboarding
adds one saying it resumed it, and its closing entry counts what the stopped run deleted).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from lethe import audit
from lethe.contracts import centre_datasets
from lethe.errors import ConfigError, GuardError
from lethe.policy import RESERVED_TENANTS, is_folder_name, load_policy
from lethe.settings import Settings

log = logging.getLogger(__name__)

# Test hook, as in lethe.purge.engine: called with "before:compact" so a test can stop the run there.
HOOK: Callable[[str], None] | None = None

# besides the centre's own raw tables (contracts under _centre/): the breach register's mart, which the next
# build recomputes from raw.breaches anyway
KEEP_DERIVED = {("marts", "fct_breaches")}


@dataclass(frozen=True)
class OffboardResult:
    """What an offboarding deleted (or, for a dry run, would delete)."""

    tenant: str
    dry_run: bool
    rows: tuple[tuple[str, int], ...]  # (schema.table, rows)
    landing_files: int
    export_files: int
    compacted: tuple[int, int] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "dry_run": self.dry_run,
            "tables": [{"table": t, "rows": n} for t, n in self.rows],
            "rows": sum(n for _, n in self.rows),
            "landing_files": self.landing_files,
            "export_files": self.export_files,
            "warehouse_bytes": list(self.compacted) if self.compacted else None,
        }

    def render(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        lines = [f"offboarding {self.tenant}: {verb} {sum(n for _, n in self.rows)} rows in {len(self.rows)} tables, "
                 f"{self.landing_files} landing files, {self.export_files} export files"]
        lines += [f"  {t:<55} {n:>10}" for t, n in self.rows]
        if self.compacted:
            lines.append(f"warehouse compacted: {self.compacted[0]} -> {self.compacted[1]} bytes")
        return "\n".join(lines + list(self.notes))


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Every base table of the warehouse with a tenant_id column, but the contact centre's own records (its agents
    and its breach register: it is their controller, and their tenant_id names a client, it does not make the
    rows the client's)."""
    rows = con.execute(
        "select t.schema_name, t.table_name from duckdb_tables() t where t.database_name = current_database() "
        "and exists (select 1 from duckdb_columns() c where c.database_name = t.database_name "
        "and c.schema_name = t.schema_name and c.table_name = t.table_name and c.column_name = 'tenant_id') "
        "order by all"
    ).fetchall()
    keep = KEEP_DERIVED | {("raw", name) for name in centre_datasets()}
    return [(s, t) for s, t in rows if (s, t) not in keep]


def _count(con: duckdb.DuckDBPyConnection, tenant: str) -> list[tuple[str, int]]:
    out = []
    for schema, table in _tables(con):
        n = con.execute(f'select count(*) from "{schema}"."{table}" where tenant_id = ?', [tenant]).fetchone()[0]  # noqa: S608
        if n:
            out.append((f"{schema}.{table}", int(n)))
    return out


def _files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if not p.is_dir()) if folder.is_dir() else 0


def _open_holds(con: duckdb.DuckDBPyConnection, tenant: str, settings: Settings) -> int:
    from lethe import catalog

    if not catalog.table_exists(con, "raw", "legal_holds"):
        return 0
    as_of = settings.as_of.date()
    return int(con.execute(
        "select count(*) from raw.legal_holds where tenant_id = ? and (start_date is null or start_date::date <= ?) "
        "and (end_date is null or end_date::date >= ?)", [tenant, as_of, as_of]).fetchone()[0])


def _interrupted_offboardings(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per tenant whose offboarding started and did not finish (killed after deleting its rows and folders, before
    the compaction), the audit entry that started it: a re-run must finish it, though nothing is left to count,
    and its closing entry reports what that run deleted."""
    last: dict[str, dict[str, Any]] = {}
    for entry in audit.read_entries(settings.audit_log):
        if entry.get("event") in ("tenant.offboard.started", "tenant.offboarded") and entry.get("tenant"):
            last[str(entry["tenant"])] = entry
    return {t: entry for t, entry in last.items() if entry["event"] == "tenant.offboard.started"}


def unfinished_offboardings(settings: Settings) -> list[str]:
    """Tenants whose offboarding started and never finished (killed before its compaction): their deleted rows
    may still sit in the warehouse file's free blocks until `lethe tenant offboard` is run again."""
    return sorted(_interrupted_offboardings(settings))


def _refuse_unless_offboardable(settings: Settings, tenant: str) -> None:
    policy = load_policy(settings.tenants_file)
    if tenant in RESERVED_TENANTS or not is_folder_name(tenant):
        raise ConfigError(f"--tenant {tenant!r}: not a tenant folder name")
    if tenant in policy.tenants:
        raise GuardError(
            f"offboarding refused: {tenant} is still in {settings.tenants_file}; take it out of the file first "
            "(its contract has ended), then run this again")


def offboard(settings: Settings, tenant: str, *, dry_run: bool = False) -> OffboardResult:
    """Delete everything held for `tenant` (see the module docstring); with dry_run, only count it."""
    from lethe.purge import compact as compaction
    from lethe.purge import journal
    from lethe.warehouse import connect

    _refuse_unless_offboardable(settings, tenant)
    landing = settings.landing / tenant
    exports = settings.exports_dir / tenant
    rows: list[tuple[str, int]] = []
    landing_files, export_files = _files(landing), _files(exports)
    if settings.warehouse.exists():
        con = connect(settings)
        try:
            journal.ensure(con)
            pending = [s.run_id for s in journal.unfinished(con)]
            if pending:
                raise GuardError(f"offboarding refused: purge run {pending[0]} is unfinished; let `lethe purge` "
                                 "finish it first")
            held = _open_holds(con, tenant, settings)
            if held:
                raise GuardError(
                    f"offboarding refused: {tenant} has {held} open legal hold(s) at {settings.as_of:%Y-%m-%d}; the "
                    "held data must be kept (or handed to the controller) until the holds end")
            rows = _count(con, tenant)
            if rows and not dry_run:
                audit.append(settings, "tenant.offboard.started", tenant=tenant,
                             rows=sum(n for _, n in rows), tables=dict(rows), landing_files=landing_files,
                             export_files=export_files)
                con.execute("begin")
                for name, _ in rows:
                    schema, table = name.split(".", 1)
                    con.execute(f'delete from "{schema}"."{table}" where tenant_id = ?', [tenant])  # noqa: S608
                con.execute("commit")
        finally:
            con.close()
    held_anything = rows or landing.is_dir() or exports.is_dir()
    interrupted = None if rows else _interrupted_offboardings(settings).get(tenant)
    if not held_anything and interrupted is None:
        raise ConfigError(f"--tenant {tenant!r}: nothing is held for it (no rows, no landing or export folder)")
    if dry_run:
        return OffboardResult(tenant, True, tuple(rows), landing_files, export_files)
    if interrupted is not None:
        # finishing a run that was stopped: the audit log says so, and the closing entry counts what it deleted
        audit.append(settings, "tenant.offboard.resumed", tenant=tenant, started_seq=interrupted.get("seq"))
    elif not rows:
        audit.append(settings, "tenant.offboard.started", tenant=tenant, rows=0)
    for folder in (landing, exports):
        if folder.is_dir():
            shutil.rmtree(folder)
    compacted = None
    if HOOK is not None:
        HOOK("before:compact")
    if settings.warehouse.exists():
        compacted = compaction.compact(settings.warehouse)
        if settings.snapshot.exists():
            from lethe.publish import publish

            publish(settings)
    total = sum(n for _, n in rows)
    tables: dict[str, Any] = dict(rows)
    if interrupted is not None:
        total = int(interrupted.get("rows") or 0) + total
        tables = {**dict(interrupted.get("tables") or {}), **tables}
        landing_files += int(interrupted.get("landing_files") or 0)
        export_files += int(interrupted.get("export_files") or 0)
    audit.append(settings, "tenant.offboarded", tenant=tenant, rows=total,
                 tables=tables, landing_files=landing_files, export_files=export_files)
    log.info("offboarded %s: %d rows, %d landing files, %d export files", tenant, total, landing_files, export_files)
    return OffboardResult(tenant, False, tuple(rows), landing_files, export_files, compacted)
