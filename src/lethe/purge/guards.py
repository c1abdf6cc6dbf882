"""Guards that refuse a purge with one clear line before anything is deleted."""

from __future__ import annotations

import logging
from datetime import date

import duckdb

from lethe import catalog
from lethe.errors import GuardError
from lethe.policy import DEFAULT_PURGE_MAX_SHARE, Policy
from lethe.purge import targets
from lethe.purge.plan import Plan

log = logging.getLogger(__name__)


def check_policy_unchanged(plan: Plan, policy: Policy) -> None:
    """The policy file must be byte-identical to the one the plan was made under."""
    if plan.policy_sha256 != policy.sha256:
        raise GuardError(
            f"purge refused: {policy.path} changed since plan {plan.run_id} was made "
            f"(sha256 {plan.policy_sha256[:12]} -> {policy.sha256[:12]}); plan again"
        )


def _failed_batches(con: duckdb.DuckDBPyConnection) -> str | None:
    """SQL listing batch ids that failed their data contract.

    Ingest validates a whole batch with Great Expectations before quarantining bad rows, so a failed
    expectation alone is normal; a batch failed when an expectation found more bad rows than the batch
    sent to quarantine, i.e. rows that broke the contract reached the raw table.
    """
    cols = set(catalog.columns(con, "lethe_meta", "validation_results"))
    if not {"batch_id", "success"} <= cols:
        return None
    unexpected = "coalesce(v.unexpected_count, 0)" if "unexpected_count" in cols else "1"
    quarantined = (
        # a row quarantined for a conflicting repeat of its key, or an unknown tenant, passed the rules GX checks
        "(select count(*) from quarantine.rows q where q.batch_id = v.batch_id and q.dataset = v.dataset "
        "and q.rule not like 'conflict:%' and q.rule not like 'tenant:%')"
        if catalog.table_exists(con, "quarantine", "rows")
        else "0"
    )
    if "quarantined_count" in cols:
        # as ingest counted them: a purge deletes quarantined rows later (an erasure, their retention), after which
        # the quarantine as it is would make the batch look failed and refuse every purge of its rows for good
        quarantined = f"coalesce(v.quarantined_count, {quarantined})"
    return (
        f"select distinct v.batch_id from lethe_meta.validation_results v "  # noqa: S608
        f"where not v.success and {unexpected} > {quarantined}"
    )


def check_batches(con: duckdb.DuckDBPyConnection, plan: Plan) -> None:
    """No record in the plan may come from a batch that failed its data contract."""
    failed = _failed_batches(con)
    if failed is None:
        return
    have = catalog.raw_tables(con)
    for table in sorted(t for t in have if targets.known(t) and "." not in t):
        if "_batch_id" not in catalog.columns(con, "raw", table):
            continue
        row = con.execute(
            f"select t._batch_id, count(*) from raw.{table} t where {targets.selected(table)} "  # noqa: S608
            f"and t._batch_id in ({failed}) group by 1 order by 2 desc limit 1",
            {"run": plan.run_id},
        ).fetchone()
        if row:
            raise GuardError(
                f"purge refused: plan {plan.run_id} touches raw.{table} rows of batch {row[0]}, "
                "which failed its data contract (lethe_meta.validation_results); fix and re-ingest first"
            )


def check_share(con: duckdb.DuckDBPyConnection, plan: Plan, policy: Policy) -> None:
    """No tenant may lose more than its purge_max_share of any table in one run."""
    have = catalog.raw_tables(con)
    for table in sorted(t for t in have if targets.known(t) and t != "quarantine.rows"):
        rows = con.execute(
            f"""
            with gone as (
                select t.tenant_id, count(*) as n from raw.{table} t
                where {targets.selected(table, "p.action = 'delete' and p.data_category <> 'interaction.recording'")}
                group by 1
            ),
            total as (select tenant_id, count(*) as n from raw.{table} group by 1)
            select g.tenant_id, g.n, t.n from gone g join total t using (tenant_id) order by 1
            """,  # noqa: S608
            {"run": plan.run_id},
        ).fetchall()
        for tenant, gone, total in rows:
            limit = policy.tenants[tenant].purge_max_share if tenant in policy.tenants else DEFAULT_PURGE_MAX_SHARE
            if total and gone / total > limit:
                raise GuardError(
                    f"purge refused: run {plan.run_id} would remove {gone} of {total} rows "
                    f"({gone / total:.0%}) of raw.{table} for tenant {tenant}, over its purge_max_share "
                    f"of {limit:.0%} ({policy.path}); review the plan with --dry-run"
                )


def _hold_problems(con: duckdb.DuckDBPyConnection, tenants: list[str], day: date) -> list[tuple[str, str]]:
    """(tenant, problem) for each legal hold of these tenants that Lethe cannot read right, so that it may protect
    nobody it should: a loaded hold that ends before it starts, or that has not ended by `day` and names nobody, a
    hold row quarantined with no readable version of it loaded (by hold_id), a hold file refused whole and not
    loaded since. A hold that ended and names nobody protects nobody whoever it named: the purge blanks an ended
    hold's identifiers when the person's data goes (their erasure, their CRM contact's retention), as it blanks
    every copy of their addresses, and the register keeps the row."""
    parts = []
    loaded = catalog.table_exists(con, "raw", "legal_holds")
    if loaded:
        parts.append(
            "select tenant_id, hold_id, case when end_date < start_date then 'ends (' || end_date || ') before it starts ('"
            " || start_date || ')' else 'names nobody (no crm_contact_id, no subject_email)' end as problem "
            "from raw.legal_holds where end_date < start_date or (crm_contact_id is null and subject_email is null "
            "and (end_date is null or end_date >= $day))"
        )
    if catalog.table_exists(con, "quarantine", "rows"):
        unread = ("q.hold_id is null or q.hold_id not in "
                  "(select h.hold_id from raw.legal_holds h where h.tenant_id = q.tenant_id)"
                  if loaded else "true")
        parts.append(
            "select tenant_id, hold_id, 'was quarantined (' || reason || ') in ' || source_file || ' row ' || source_row "  # noqa: S608
            "from (select *, try(json_extract_string(record, '$.hold_id')) as hold_id from quarantine.rows "
            f"where dataset = 'legal_holds') q where {unread}"
        )
    if catalog.table_exists(con, "quarantine", "files"):
        parts.append(
            "select f.tenant_id, null, 'file ' || f.source_file || ' was refused (' || f.reason || ')' "
            "from quarantine.files f join lethe_meta.manifest m on m.path = f.source_file "
            "where f.dataset = 'legal_holds' and m.status = 'quarantined'"
        )
    if not parts or not tenants:
        return []
    rows = con.execute(
        f"select tenant_id, hold_id, problem from ({' union all '.join(parts)}) "  # noqa: S608
        "where list_contains($tenants, tenant_id) order by tenant_id, hold_id nulls last, problem",
        {"tenants": tenants, "day": day} if loaded else {"tenants": tenants},
    ).fetchall()
    return [(tenant, f"hold {hold} {problem}" if hold else f"a hold {problem}") for tenant, hold, problem in rows]


def check_legal_holds(con: duckdb.DuckDBPyConnection, plan: Plan) -> None:
    """Legal holds always win, so a plan's tenant whose hold register Lethe cannot read right (a hold that ends
    before it starts or, not ended at the plan's as-of, names nobody, a hold quarantined or refused) is not purged
    until it is corrected: the hold it misreads may be the one protecting a record the plan deletes."""
    problems = _hold_problems(con, sorted({a.tenant for a in plan.actions}), plan.as_of.date())
    if problems:
        tenant, first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise GuardError(
            f"purge refused: tenant {tenant}'s {first}{more}; legal holds always win, so nothing is purged until "
            "the hold register is corrected and delivered as a new file"
        )


def check_all(con: duckdb.DuckDBPyConnection, plan: Plan, policy: Policy) -> None:
    """Every guard, cheapest first; raises GuardError on the first that refuses."""
    check_policy_unchanged(plan, policy)
    check_batches(con, plan)
    check_legal_holds(con, plan)
    check_share(con, plan, policy)
    log.info("guards passed for %s", plan.run_id)
