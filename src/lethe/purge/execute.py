"""Execute a persisted plan in the warehouse: tombstones, then raw and quarantine rows, one transaction per step."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from lethe import catalog
from lethe.purge import targets

log = logging.getLogger(__name__)

_RECORDING_FILES = (
    "select path from lethe_meta.purge_files where run_id = $run and dataset = 'recordings'"
)


@dataclass(frozen=True)
class Step:
    """One set-based statement over one table: which rows (SQL condition on `t`) and what happens to them."""

    table: str
    action: str
    category: str
    where: str
    change: str  # 'delete' or an SQL SET list

    def statement(self) -> str:
        target = targets.qualified(self.table)
        if self.change == "delete":
            return f"delete from {target} t where {self.where}"  # noqa: S608
        return f"update {target} t set {self.change} where {self.where}"  # noqa: S608


def steps(have: set[str]) -> list[Step]:
    """Every step, in order; anonymisations before deletions so each reads the rows it needs."""
    out: list[Step] = []
    if "contact_records" in have:
        rec = targets.selected("contact_records", "p.data_category = 'interaction.recording'")
        by_path = (
            "t.recording_location is not null and (case when t.recording_location like '/%' then t.recording_location "
            f"else t.tenant_id || '/' || t.recording_location end) in ({_RECORDING_FILES})"
        )
        out.append(
            Step(
                "contact_records",
                "anonymise",
                "interaction.recording",
                f"t.recording_location is not null and ({rec} or {by_path})",
                "recording_location = null, recording_status = 'DELETED'",
            )
        )
        out.append(
            Step(
                "contact_records",
                "anonymise",
                "crm.contact",
                "t.customer_address is not null and "
                + targets.selected("contact_records", "p.action = 'anonymise' and p.data_category = 'crm.contact'"),
                "customer_address = null",
            )
        )
    if "email_events" in have:
        out.append(
            Step(
                "email_events",
                "anonymise",
                "crm.contact",
                "t.email is not null and " + targets.selected("email_events", "p.action = 'anonymise'"),
                "email = null",
            )
        )
    if "dsr_requests" in have:
        out.append(
            Step(
                "dsr_requests",
                "anonymise",
                "crm.contact",
                "(t.subject_email is not null or t.subject_phone is not null or t.details is not null) and "
                + targets.selected("dsr_requests", "p.action = 'anonymise'"),
                "subject_email = null, subject_phone = null, details = null",
            )
        )
    if "legal_holds" in have:
        out.append(
            Step(
                "legal_holds",
                "anonymise",
                "crm.contact",
                "t.subject_email is not null and " + targets.selected("legal_holds", "p.action = 'anonymise'"),
                "subject_email = null",
            )
        )
    deletable = "p.action = 'delete' and p.data_category <> 'interaction.recording'"
    for table in ("transcripts", "contact_records", "email_events", "crm_consents", "crm_individuals", "crm_contacts"):
        if table in have:
            out.append(Step(table, "delete", targets.CATEGORY[table], targets.selected(table, deletable), "delete"))
    if catalog.PREVIOUS_ADDRESSES in have:  # a deleted CRM contact's old addresses go with it
        out.append(
            Step(
                catalog.PREVIOUS_ADDRESSES,
                "delete",
                "crm.contact",
                f"t.tenant_id || chr(31) || t.contact_id in (select {targets.plan_key('crm_contacts')} "  # noqa: S608
                "from lethe_meta.purge_plans p where p.run_id = $run and p.source_table = 'crm_contacts' "
                f"and ({deletable}))",
                "delete",
            )
        )
    if catalog.SUBJECT_KEYS in have and "crm_contacts" in have:
        # the key kept for an Individual no contact names any more (erased, or retired whole) goes before the
        # compaction, with the Individual Id it is kept under (the identity model's post-hook would drop it only
        # at the rebuild, after the compaction); in the tenants the run's plan touches
        out.append(
            Step(
                catalog.SUBJECT_KEYS,
                "delete",
                "crm.contact",
                "t.tenant_id in (select p.tenant_id from lethe_meta.purge_plans p where p.run_id = $run) "
                "and not exists (select 1 from raw.crm_contacts c where c.tenant_id = t.tenant_id "
                "and c.individual_id = t.individual_id)",
                "delete",
            )
        )
    if "recordings" in have:
        out.append(
            Step(
                "recordings",
                "delete",
                "interaction.recording",
                f"({targets.selected('recordings', 'true')} or t.tenant_id || '/' || t.recording_path in ({_RECORDING_FILES}))",
                "delete",
            )
        )
    if "quarantine.rows" in have:
        out.append(Step("quarantine.rows", "delete", "quarantine", targets.selected("quarantine.rows"), "delete"))
    return out


def write_tombstones(con: duckdb.DuckDBPyConnection, run_id: str, erased_at: object) -> int:
    """Tombstone every erased identity of the run (keyed hashes only); idempotent."""
    con.execute("begin")
    try:
        before = con.execute("select count(*) from lethe_meta.tombstones").fetchone()[0]
        con.execute(
            """
            insert or ignore into lethe_meta.tombstones (tenant_id, kind, identity_hash, erased_at, run_id)
            select distinct tenant_id, kind, identity_hash, $at::timestamp, run_id
            from lethe_meta.purge_identities where run_id = $run
            """,
            {"run": run_id, "at": erased_at},
        )
        after = con.execute("select count(*) from lethe_meta.tombstones").fetchone()[0]
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return int(after - before)


def run_steps(con: duckdb.DuckDBPyConnection, run_id: str, point: Callable[[str], None] | None = None) -> int:
    """Apply every step in its own transaction, recording its row counts with it; return rows changed."""
    total = 0
    for number, step in enumerate(steps(catalog.raw_tables(con)), start=1):
        target = targets.qualified(step.table)
        con.execute("begin")
        try:
            con.execute(
                f"""
                insert into lethe_meta.purge_counts
                select $run, t.tenant_id, '{step.category}', '{target}', '{step.action}', count(*)
                from {target} t where {step.where} group by t.tenant_id
                """,  # noqa: S608
                {"run": run_id},
            )
            changed = con.execute(step.statement(), {"run": run_id}).fetchone()
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        if point is not None:
            point(f"raw:{number}")
        n = int(changed[0]) if changed else 0
        total += n
        if n:
            log.info("%s %s: %d rows (%s)", step.action, target, n, step.category)
    return total
