"""`run_ingest`: discover new landing files through the manifest and load them, batch by batch."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from lethe import catalog
from lethe.contracts import Contract, load_all_contracts
from lethe.errors import ConfigError, UnknownTenantError
from lethe.ingest import schema
from lethe.ingest.files import CENTRE, LandingFile, chunks, describe, find_files, unclaimed_files
from lethe.ingest.load import BatchResult, KnownTenants, insert_rows, load_batch
from lethe.ingest.summary import IngestSummary, SourceSummary
from lethe.policy import load_policy
from lethe.refused import scrub_refused
from lethe.settings import Settings

log = logging.getLogger(__name__)

MEMORY_LIMIT = "2GB"

FAMILIES: dict[str, list[str]] = {
    "crm": ["crm_contacts", "crm_individuals", "crm_consents", "crm_purposes", "dsr_requests", "legal_holds"],
    "contact_records": ["contact_records"],
    "transcripts": ["transcripts"],
    "recordings": ["recordings"],
    "email_events": ["email_events"],
    "campaigns": ["campaigns"],
    "centre": ["agents", "breaches"],
}


def discover_tenants(landing: Path) -> list[str]:
    """Tenant folders in the landing zone (`_centre` and hidden folders excluded)."""
    landing = Path(landing)
    if not landing.is_dir():
        raise ConfigError(f"landing zone {landing} does not exist or is not a directory (set --landing or LETHE_LANDING)")
    return sorted(p.name for p in landing.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _changed(con: duckdb.DuckDBPyConnection, files: list[LandingFile], contract: Contract, tenant: str,
             batch_id: str, now: datetime) -> tuple[list[LandingFile], tuple[str, ...]]:
    """Split files into the ones to load and report, once, files whose content changed under a path already
    loaded. To load: new paths; paths refused whole before (status 'quarantined': nothing of them was
    loaded, e.g. a half-written upload) whose content has changed since; and paths a purge deleted (status
    'purged') that hold a file again, whatever its content: a restore from a backup puts an erased person's files
    back byte for byte, and, loaded as a new delivery, their records are dropped and the file scrubbed (a record
    purged for its age is due again). Returns (to load, one reason per changed file, naming it)."""
    known = {
        path: (sha, status)
        for path, sha, status in con.execute(
            "select path, sha256, status from lethe_meta.manifest where tenant_id = ? and dataset = ?",
            [tenant, contract.dataset],
        ).fetchall()
    }
    load, changed, retried, returned = [], [], 0, 0
    key = con.execute("select getvariable('lethe_key')").fetchone()[0].encode()
    for f in files:  # in path order: batch order decides which of two copies of a record loads first
        if f.rel not in known:
            load.append(f)
            # a purge deleted it: its manifest path is hidden (schema.hide_purged_paths), its status 'purged'
            returned += known.get(schema.purged_name(key, tenant, f.rel), ("", ""))[1] == "purged"
        elif known[f.rel][1] == "purged":
            load.append(f)
            returned += 1
        elif known[f.rel][0] == f.sha256 or known[f.rel][1] == "changed":
            continue
        elif known[f.rel][1] == "quarantined":  # never loaded: its new content is a delivery like a new file's
            load.append(f)
            retried += 1
        else:
            changed.append(f)
    if returned:
        log.info("%s/%s: %d file(s) a purge deleted are in the landing zone again: loading them as new deliveries",
                 tenant, contract.dataset, returned)
    if retried:
        log.info("%s/%s: %d file(s) refused whole before have new content: trying them again",
                 tenant, contract.dataset, retried)
    reasons = tuple(
        f"content changed since it was loaded (sha256 {known[f.rel][0][:12]}… → {f.sha256[:12]}…); "
        "not reloaded: deliver changes as a new file"
        for f in changed
    )
    if changed:
        stamp = now.replace(tzinfo=None)
        con.execute("begin transaction")
        insert_rows(con, "quarantine.files", ["tenant_id", "dataset", "source_file", "reason", "batch_id", "quarantined_at"],
                [(tenant, contract.dataset, f.rel, reason, batch_id, stamp) for f, reason in zip(changed, reasons, strict=True)])
        con.execute("update lethe_meta.manifest set status = 'changed' where list_contains(?, path)", [[f.rel for f in changed]])
        con.execute("commit")
        log.warning("%s/%s: %d file(s) changed under the same path", tenant, contract.dataset, len(changed))
    return load, tuple(f"file {f.rel}: {reason}" for f, reason in zip(changed, reasons, strict=True))


def _ingest_source(con: duckdb.DuckDBPyConnection, settings: Settings, landing: Path, contract: Contract,
                   tenant: str, future_limit: datetime) -> SourceSummary | None:
    paths = find_files(landing, tenant, contract)
    if not paths:
        return None
    now = datetime.now(UTC)
    run_id = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    clock = time.perf_counter()
    files = describe(landing, paths)
    log.info("%s/%s: %d files hashed", tenant, contract.dataset, len(files),
             extra={"lethe_phases": {"discover_hash": time.perf_counter() - clock}})
    to_load, changed = _changed(con, files, contract, tenant, f"{contract.dataset}:{tenant}:{run_id}", now)
    results: list[BatchResult] = []
    known = (KnownTenants(frozenset(load_policy(settings.tenants_file).tenants), str(settings.tenants_file))
             if contract.centre else None)
    for i, batch in enumerate(chunks(to_load)):
        batch_id = f"{contract.dataset}:{tenant}:{run_id}:{i}"
        results.append(load_batch(con, contract, tenant, batch, batch_id=batch_id, future_limit=future_limit, now=now,
                                  known_tenants=known))
    if not results and not changed:
        return None
    return SourceSummary(
        tenant=tenant,
        dataset=contract.dataset,
        files=sum(r.files for r in results),
        loaded=sum(r.loaded for r in results),
        duplicates_skipped=sum(r.duplicates_skipped for r in results),
        replaced=sum(r.replaced for r in results),
        quarantined_rows=sum(r.quarantined_rows for r in results),
        quarantined_files=sum(r.quarantined_files for r in results) + len(changed),
        changed_files=len(changed),
        tombstoned=sum(r.tombstoned for r in results),
        failed_expectations=sum(r.failed_expectations for r in results),
        reasons=tuple(x for r in results for x in r.reasons) + changed,
    )


def unfinished_purge_runs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The purge runs that were killed (or crashed) while rewriting or deleting landing files, oldest first: the
    ones whose last completed phase is `raw` or `landing` (lethe.purge.journal.PHASES). Until they are finished the
    landing zone and its manifest disagree. A run stopped in another phase leaves them agreeing (one whose
    verification keeps failing, say), and holds nothing back."""
    if not catalog.table_exists(con, "lethe_meta", "purge_runs"):
        return []
    return [r for (r,) in con.execute(
        "select run_id from lethe_meta.purge_runs where status = 'running' and phase in ('raw', 'landing') "
        "order by created_at").fetchall()]


def run_ingest(
    settings: Settings,
    landing: Path,
    families: list[str] | None = None,
    tenants: list[str] | None = None,
) -> IngestSummary:
    """Load every new landing file of the given families and tenants (all by default), validated against
    its data contract. Idempotent: files already in the manifest are never loaded twice; a file refused whole
    (nothing of it loaded) is tried again once its content changes."""
    from lethe.warehouse import connect

    start = time.perf_counter()
    landing = Path(landing)
    all_tenants = discover_tenants(landing)
    unknown_families = sorted(set(families or []) - set(FAMILIES))
    if unknown_families:
        raise ConfigError(f"unknown source family {', '.join(unknown_families)}; known: {', '.join(FAMILIES)}")
    wanted = [t for t in (tenants or all_tenants) if t != CENTRE]
    missing = sorted(set(wanted) - set(all_tenants))
    if missing:
        raise UnknownTenantError(f"no tenant folder {', '.join(missing)} in landing zone {landing}")
    # A folder the tenant policy file does not name has no controller and no retention: loading it would keep
    # its people's data with nothing ever falling due. It is left alone (not recorded in the manifest, so it
    # loads once the tenant is added) and reported.
    listed = set(load_policy(settings.tenants_file).tenants)
    not_loaded = tuple(
        f"{t}/: tenant folder not in the tenant policy file {settings.tenants_file}: nothing in it is loaded "
        "(add the tenant, with its controller, to load it)"
        for t in wanted if t not in listed
    )
    for reason in not_loaded:
        log.info("ingest: %s", reason)
    wanted = [t for t in wanted if t in listed]
    with_centre = tenants is None or CENTRE in tenants
    contracts = load_all_contracts()
    datasets = [d for f in (families or list(FAMILIES)) for d in FAMILIES[f]]
    future_limit = (max(datetime.now(UTC), settings.as_of) + timedelta(days=1)).replace(tzinfo=None)
    # files no dataset loads (a `.xlsx` among the DSR CSVs, a file outside every source folder): never loaded,
    # so each is named, every run, until it is moved or removed
    unclaimed = tuple(
        line
        for owner in [*wanted, *([CENTRE] if with_centre else [])]
        for line in unclaimed_files(landing, owner, [contracts[d] for d in datasets if contracts[d].centre == (owner == CENTRE)],
                                    everywhere=families is None)
    )
    for reason in unclaimed:
        log.info("ingest: %s", reason)
    not_loaded += unclaimed
    sources: list[SourceSummary] = []
    con = connect(settings)
    try:
        interrupted = unfinished_purge_runs(con)
        if interrupted:
            # a purge killed while rewriting or deleting landing files has marked files purged that are still on
            # disk, or recorded a rewritten file's new digest before writing it: loading now would bring purged
            # records back, or take the old bytes for a changed delivery. Nothing is loaded until it is finished.
            line = (f"an interrupted purge run ({', '.join(interrupted)}) has not finished with the landing zone: "
                    "nothing is loaded until it has (`lethe purge` or `lethe run` finishes it, as does the next "
                    "lethe_enforce run)")
            log.warning("ingest: %s", line)
            return IngestSummary(seconds=time.perf_counter() - start, not_loaded=(line, *not_loaded))
        # Bound DuckDB's share of memory (its default is 80% of RAM); the GX frame and Python need the rest.
        con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
        con.execute("set preserve_insertion_order = true")  # source_row numbering relies on it
        schema.ensure(con, contracts)
        for dataset in datasets:
            contract = contracts[dataset]
            owners = [CENTRE] if contract.centre else wanted
            if contract.centre and not with_centre:
                continue
            for tenant in owners:
                summary = _ingest_source(con, settings, landing, contract, tenant, future_limit)
                if summary:
                    sources.append(summary)
        scrub_refused(con, landing)  # a refused file (not loaded, so not checked record by record) of an erased subject
        schema.hide_purged_paths(con)  # the paths of those it deleted, and of files this ingest scrubbed whole
    finally:
        con.close()
    return IngestSummary(sources=tuple(sources), seconds=time.perf_counter() - start, not_loaded=not_loaded)
