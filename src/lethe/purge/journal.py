"""The purge journal in the warehouse: runs, their persisted plans, and the phases each run has completed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import duckdb

from lethe import tombstones

log = logging.getLogger(__name__)

# verify audits the run's completion, then re-publishes: the snapshot's purge history shows the run completed
PHASES = ("tombstones", "raw", "landing", "files", "exports", "compact", "rebuild", "verify", "publish")

DDL = (
    """
    create table if not exists lethe_meta.purge_runs (
        run_id varchar primary key,
        kind varchar not null,              -- retention | erasure
        created_at timestamp not null,
        as_of timestamp not null,
        policy_sha256 varchar not null,
        status varchar not null,            -- planned | running | done | refused | failed
        phase varchar,                      -- last completed phase (see lethe.purge.journal.PHASES)
        derived varchar,                    -- rebuilt | stale
        note varchar
    )
    """,
    """
    create table if not exists lethe_meta.purge_plans (
        run_id varchar not null,
        tenant_id varchar not null,
        data_category varchar not null,
        reason varchar not null,            -- retention_expired | erasure_request
        action varchar not null,            -- delete | anonymise
        source_table varchar not null,      -- raw dataset, or quarantine.rows
        record_id varchar not null,
        subject_key varchar
    )
    """,
    """
    create table if not exists lethe_meta.purge_identities (
        run_id varchar not null,
        tenant_id varchar not null,
        kind varchar not null,
        identity_hash varchar not null,
        subject_key varchar
    )
    """,
    """
    create table if not exists lethe_meta.purge_files (
        run_id varchar not null,
        tenant_id varchar not null,
        dataset varchar not null,           -- recordings | transcripts
        path varchar not null,              -- relative to the landing root, or absolute
        data_category varchar not null
    )
    """,
    """
    create table if not exists lethe_meta.purge_landing_files (
        run_id varchar not null,
        tenant_id varchar not null,
        dataset varchar not null,           -- a landing dataset (lethe.purge.files.LANDING)
        path varchar                        -- relative to the landing root; null = scan every file of the dataset
    )
    """,
    """
    create table if not exists lethe_meta.purge_landing_written (
        run_id varchar not null,
        tenant_id varchar not null,
        dataset varchar not null,
        path varchar not null,              -- relative to the landing root
        action varchar not null,            -- rewrite | delete_file (as purge_counts counts it)
        sha256 varchar,                     -- of the rewritten bytes on disk; null: the file is deleted
        records bigint not null             -- records dropped or patched in it
    )
    """,
    """
    create table if not exists lethe_meta.purge_request_closures (
        run_id varchar not null,
        tenant_id varchar not null,
        request_id varchar not null         -- a request of a person the run erases (lethe.purge.plan)
    )
    """,
    """
    create table if not exists lethe_meta.purge_counts (
        run_id varchar not null,
        tenant_id varchar not null,
        data_category varchar not null,
        target varchar not null,            -- raw.<table>, quarantine.rows, landing:<dataset>, file:<dataset>, exports
        action varchar not null,
        rows bigint not null
    )
    """,
)


@dataclass(frozen=True)
class RunState:
    """One journalled purge run."""

    run_id: str
    kind: str
    as_of: datetime
    policy_sha256: str
    status: str
    phase: str | None

    def done(self, phase: str) -> bool:
        """Whether the run already completed this phase (phases run in PHASES order)."""
        return self.phase is not None and PHASES.index(self.phase) >= PHASES.index(phase)


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Create the journal tables (and the tombstone table) if they do not exist."""
    tombstones.ensure(con)
    for ddl in DDL:
        con.execute(ddl)
    # true for a run whose audit entries carry keyed MACs (every run since they exist): `lethe audit verify` then
    # refuses entries of it without one, so a log stripped of its MACs and re-chained by hand cannot pass as
    # written before MACs; null for runs journalled by older code
    con.execute("alter table lethe_meta.purge_runs add column if not exists audit_keyed boolean")


def get(con: duckdb.DuckDBPyConnection, run_id: str) -> RunState | None:
    """The journalled state of one run, or None."""
    row = con.execute(
        "select run_id, kind, as_of, policy_sha256, status, phase from lethe_meta.purge_runs where run_id = ?",
        [run_id],
    ).fetchone()
    return RunState(*row) if row else None


def unfinished(con: duckdb.DuckDBPyConnection) -> list[RunState]:
    """Runs that started executing but never finished (killed, crashed): they are resumed first."""
    rows = con.execute(
        "select run_id, kind, as_of, policy_sha256, status, phase from lethe_meta.purge_runs "
        "where status = 'running' order by created_at"
    ).fetchall()
    return [RunState(*r) for r in rows]


RECORD_TABLES = ("purge_plans", "purge_files", "purge_landing_files", "purge_landing_written", "purge_request_closures")
"""The journal's per-record tables: record ids (Salesforce, Connect, SendGrid ids) and file paths (some named by
a contact id) that a run needs only while it runs. Once it ended they are forgotten: kept, every run would leave
the source ids of everything it ever erased in the warehouse, and a retention run adds millions of rows."""

ENDED = ("done", "refused", "abandoned")


def forget_records(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> None:
    """Delete the per-record rows of an ended run (of every ended run when run_id is None). What a run did stays:
    its purge_runs row, its counts (purge_counts), its identities as keyed hashes (purge_identities) and the audit
    log. The deleted values leave the warehouse file's bytes at the next compaction (the next purge that changes
    anything). The paths of the landing files a run deleted are hidden in the ingest manifest when it is verified
    (lethe.ingest.schema.hide_purged_paths), before it is done."""
    for table in RECORD_TABLES:
        con.execute(
            f"delete from lethe_meta.{table} where run_id in (select run_id from lethe_meta.purge_runs "  # noqa: S608
            "where status in (select unnest($ended::varchar[])) and ($run::varchar is null or run_id = $run))",
            {"ended": list(ENDED), "run": run_id},
        )


def set_status(con: duckdb.DuckDBPyConnection, run_id: str, status: str, note: str | None = None) -> None:
    """Record a run's status (and why, for refused or failed runs)."""
    con.execute(
        "update lethe_meta.purge_runs set status = ?, note = coalesce(?, note) where run_id = ?", [status, note, run_id]
    )


def complete(con: duckdb.DuckDBPyConnection, run_id: str, phase: str, derived: str | None = None) -> None:
    """Mark a phase completed (after its own transaction committed)."""
    con.execute(
        "update lethe_meta.purge_runs set phase = ?, derived = coalesce(?, derived) where run_id = ?",
        [phase, derived, run_id],
    )
