"""Process pending data-subject requests: DSR CSV rows (raw.dsr_requests) and Salesforce Individual flags.

Erasure (type erasure, or ShouldForget) goes through the purge engine in ONE run for every pending
subject; access and portability (or SendIndividualData) write a JSON export into
$LETHE_HOME/exports/<tenant>/<subject_key>.<request>.json; restriction, objection and rectification
are matched and recorded here and acted on by dbt, which reads the same raw rows and Individual flags.
Only requests verified by the as-of are processed, each once (lethe_meta.dsr_processed), except those Lethe
could not act on (held, no match, ambiguous): they are looked at again on every run. Erasures run first; a request
of any type whose person an erasure erased is closed as `erased` (by the purge run when it is done, for those it
blanked: lethe.purge.plan.close_requests_of_the_erased; here, from the tombstones, for one that came later).
"""

from __future__ import annotations

# ruff: noqa: S608 -- SQL is assembled from our own table and column names; values are bound parameters.
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

from lethe import catalog
from lethe.build import FULFILMENTS_DDL, PROCESSED_DDL
from lethe.contracts import load_all_contracts
from lethe.dsr.export import build_documents, render, subject_key
from lethe.dsr.identity import Subject, kept_keys, unheld_previous_addresses_sql
from lethe.errors import GuardError
from lethe.fsutil import write_atomic
from lethe.ingest.schema import add_new_columns
from lethe.keys import sql_keyed_hash
from lethe.settings import Settings
from lethe.warehouse import connect

log = logging.getLogger(__name__)

ACCESS_CHUNK = 1000  # access requests whose exports are read from the warehouse at once

# outcomes that are not final: looked at again on every run, so an erasure whose legal hold has ended, or a request
# whose person's data arrived after it, is acted on then (its row is updated; processed_at moves on a new outcome)
RETRIED = ("held", "no_match", "ambiguous")

TOMBSTONES = "lethe_meta.tombstones"  # in `have` when the table exists (an erasure has run on this home)
PURGE_RUNS = "lethe_meta.purge_runs"  # likewise


def _upsert(select: str) -> str:
    """INSERT of `select`'s (tenant_id, request_id, type, outcome, run_id, processed_at, received_at) rows into dsr_processed,
    updating a retried request's row (keeping its processed_at while its outcome stays the same) and a CRM flag
    request made again (a later received_at: processed anew)."""
    return (
        "insert into lethe_meta.dsr_processed (tenant_id, request_id, type, outcome, run_id, processed_at, received_at) "
        f"{select} on conflict (tenant_id, request_id) do update set "
        "outcome = excluded.outcome, run_id = excluded.run_id, received_at = excluded.received_at, processed_at = case when "
        "lethe_meta.dsr_processed.outcome = excluded.outcome and lethe_meta.dsr_processed.received_at is not distinct "
        "from excluded.received_at then lethe_meta.dsr_processed.processed_at else excluded.processed_at end"
    )


@dataclass(frozen=True)
class RequestsResult:
    """Outcomes of one pass over the pending requests."""

    outcomes: dict[str, int] = field(default_factory=dict)
    erasure_run: str | None = None
    exports: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"outcomes": dict(self.outcomes), "erasure_run": self.erasure_run, "exports": list(self.exports)}

    def render(self) -> str:
        if not self.outcomes:
            return "data-subject requests: nothing pending"
        parts = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items()))
        run = f" (erasure run {self.erasure_run})" if self.erasure_run else ""
        return f"data-subject requests: {parts}{run}"


def _pending_sql(have: set[str], types: tuple[str, ...], flag: str | None, as_of: datetime) -> str:
    """Pending requests of the given types: (tenant_id, request_id, type, crm_contact_id, email, phone, individual_id).

    Judged at the as-of, as the marts judge them: a request received and verified by then, an Individual flag set
    by then. A run at an earlier as-of (a backfill) neither erases nor exports for a request verified after it."""
    at = f"timestamp '{as_of.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"
    parts = []
    if "dsr_requests" in have:
        kinds = ", ".join(f"'{t}'" for t in types)
        parts.append(
            f"select tenant_id, request_id, type, crm_contact_id, subject_email as email, subject_phone as phone, "
            f"null::varchar as individual_id, received_at from raw.dsr_requests where type in ({kinds}) "
            f"and received_at <= {at} and verified_at <= {at}"
        )
    if flag and "crm_individuals" in have:
        kind = types[0]
        # dated when the flag was first seen set (a later edit of the Individual does not re-date the request)
        since = f"coalesce(_{flag}_since, last_modified_date)"
        parts.append(
            f"select tenant_id, 'individual:' || id || ':{kind}', '{kind}', null, null, null, id, {since} "
            f"from raw.crm_individuals where {flag} and {since} <= {at}"
        )
    if not parts:
        return (
            "select null::varchar tenant_id, null::varchar request_id, null::varchar type, null::varchar crm_contact_id, "
            "null::varchar email, null::varchar phone, null::varchar individual_id, null::timestamp received_at "
            "where false"
        )
    union = " union all ".join(parts)
    # done once processed; a CRM flag request again when the flag was cleared and set again since the one Lethe
    # processed (a later first-seen time; a DSR file row keeps its received_at, so never matches)
    return (
        f"select * from ({union}) r where not exists (select 1 from lethe_meta.dsr_processed d "
        "where d.tenant_id = r.tenant_id and d.request_id = r.request_id "
        f"and d.outcome not in ({', '.join(repr(o) for o in RETRIED)}) "
        "and (d.received_at is null or d.received_at >= r.received_at))"
    )


def _resolved_sql(have: set[str], pending: str) -> str:
    """Each pending request with its outcome and (for erase) its subject's contact and addresses.

    Columns: tenant_id, request_id, type, outcome, contact_id, individual_id, address (one row per address),
    received_at.
    """
    crm = "crm_contacts" in have
    # one equality join per identifier (hash joins), not one join with OR (a nested loop)
    conditions = ("c.id = p.crm_contact_id", "c.email = p.email", "c.phone = p.phone", "c.mobile_phone = p.phone",
                  "c.individual_id = p.individual_id")
    # contacts sharing an Individual are one person (an old duplicate Contact, say), as the marts resolve them
    matched = (
        " union ".join(
            f"select p.request_id, p.tenant_id, c.id as contact_id, c.individual_id, "
            f"coalesce(c.individual_id, c.id) as person from ({pending}) p "
            f"join raw.crm_contacts c on c.tenant_id = p.tenant_id and {cond}"
            for cond in conditions
        )
        if crm
        else "select null::varchar request_id, null::varchar tenant_id, null::varchar contact_id, "
        "null::varchar individual_id, null::varchar person where false"
    )
    if crm and catalog.PREVIOUS_ADDRESSES in have:
        # an address no contact holds now names the person whose contact held it before (the marts' owner)
        matched += "".join(
            f" union select p.request_id, p.tenant_id, c.id, c.individual_id, coalesce(c.individual_id, c.id) "
            f"from ({pending}) p join {unheld_previous_addresses_sql()} o on o.tenant_id = p.tenant_id "
            f"and o.address = p.{col} join raw.crm_contacts c on c.tenant_id = o.tenant_id and c.id = o.contact_id"
            for col in ("email", "phone")
        )
    seen = []
    if "contact_records" in have:
        seen.append("select tenant_id, customer_address as address from raw.contact_records")
    if "email_events" in have:
        seen.append("select tenant_id, email from raw.email_events")
    seen_sql = " union ".join(seen) or "select null::varchar, null::varchar where false"
    holds = (
        "select tenant_id, crm_contact_id, subject_email from raw.legal_holds "
        "where start_date <= $d and (end_date is null or end_date >= $d)"
        if "legal_holds" in have
        else "select null::varchar tenant_id, null::varchar crm_contact_id, null::varchar subject_email where false"
    )
    # each CRM contact with its person, and every address of each
    members = ("select tenant_id, id, individual_id, coalesce(individual_id, id) as person, email, phone, mobile_phone "
               "from raw.crm_contacts" if crm else
               "select null::varchar tenant_id, null::varchar id, null::varchar individual_id, null::varchar person, "
               "null::varchar email, null::varchar phone, null::varchar mobile_phone where false")
    # the addresses the person's contacts held before that no contact holds now: the marts give them to the person
    previous = (
        f"""
            union all
            select p.tenant_id, p.request_id, p.contact_id, p.individual_id, o.address
            from people p join members k on k.tenant_id = p.tenant_id and k.person = p.person
            join {unheld_previous_addresses_sql()} o on o.tenant_id = k.tenant_id and o.contact_id = k.id"""
        if crm and catalog.PREVIOUS_ADDRESSES in have else ""
    )
    # the pending requests an identifier of which an erasure tombstoned, with the run that did and the kind
    erased = (
        " union ".join(
            f"select p.tenant_id, p.request_id, t.run_id, t.kind from ({pending}) p join {TOMBSTONES} t on t.tenant_id = p.tenant_id "
            f"and t.kind = '{kind}' and t.identity_hash = {sql_keyed_hash('p.tenant_id', kind, f'p.{col}')}"
            for kind, col in (("contact", "crm_contact_id"), ("email", "email"), ("phone", "phone"),
                              ("individual", "individual_id"))
        )
        if TOMBSTONES in have
        else "select null::varchar tenant_id, null::varchar request_id, null::varchar run_id, null::varchar kind where false"
    )
    # of several runs, the latest that finished (the one a fulfilment is recorded under; run ids begin with their
    # kind, so the latest is the last created, not the greatest id)
    done, runs = (
        ("arg_max(t.run_id, r.created_at) filter (where r.status = 'done')",
         f" left join {PURGE_RUNS} r on r.run_id = t.run_id")
        if PURGE_RUNS in have else ("null", "")
    )
    return f"""
        with pending as ({pending}),
        matched as ({matched}),
        counts as (
            select p.tenant_id, p.request_id, p.type, p.email, p.phone, p.individual_id,
                   p.individual_id is not null as by_individual,
                   p.received_at, count(distinct m.person) as n
            from pending p left join matched m on m.tenant_id = p.tenant_id and m.request_id = p.request_id
            group by all
        ),
        addr_only as (
            select c.tenant_id, c.request_id, coalesce(c.email, c.phone) as address from counts c
            where c.n = 0 and coalesce(c.email, c.phone) is not null
              and coalesce(c.email, c.phone) in (select address from ({seen_sql}) s(tenant_id, address)
                                                 where s.tenant_id = c.tenant_id)
        ),
        members as ({members}),
        people as (  -- the one person a request names, keyed by their smallest Contact Id (the marts' key)
            select m.tenant_id, m.request_id, min(m.person) as person, min(k.individual_id) as individual_id,
                   min(k.id) as contact_id
            from matched m join counts c using (tenant_id, request_id)
            join members k on k.tenant_id = m.tenant_id and k.person = m.person
            where c.n = 1 or c.by_individual
            group by m.tenant_id, m.request_id
        ),
        subjects as (
            select p.tenant_id, p.request_id, p.contact_id, p.individual_id, a.address
            from people p
            left join (select tenant_id, person, a.address from members, unnest([email, phone, mobile_phone]) a(address)) a
                on a.tenant_id = p.tenant_id and a.person = p.person
            union all
            select tenant_id, request_id, null, null, address from addr_only
            union all
            -- a CRM flag on an Individual no Contact belongs to: the Individual, its privacy flags and the consents
            -- it is party to are the person's data (an erasure deletes them, an access request exports them)
            select tenant_id, request_id, null, individual_id, null from counts
            where by_individual and n = 0{previous}
        ),
        erased as (
            select t.tenant_id, t.request_id, coalesce({done}, max(t.run_id)) as run_id,
                   bool_or(t.kind in ('contact', 'individual')) as by_crm_id
            from ({erased}) t{runs} group by all
        ),
        holds as ({holds}),
        held as (  -- a hold on any contact of the person, or on any of their addresses
            select s.tenant_id, s.request_id from subjects s join holds h on h.tenant_id = s.tenant_id
            and h.subject_email = s.address
            union
            select p.tenant_id, p.request_id from people p join members k on k.tenant_id = p.tenant_id
            and k.person = p.person join holds h on h.tenant_id = k.tenant_id and h.crm_contact_id = k.id
        )
        select c.tenant_id, c.request_id, c.type,
               case when c.n > 1 and not c.by_individual then 'ambiguous'
                    -- an identifier an erasure tombstoned and a CRM person's: one of two people, never guessed (a
                    -- live person never holds a tombstoned identifier: ingest drops it)
                    when e.request_id is not null and c.n > 0 and not c.by_individual then 'ambiguous'
                    -- found naming two people before: one of them erased since says nothing of which the requester
                    -- was (the erasure blanked the other's address from the request, which now names one of them)
                    when exists (select 1 from lethe_meta.dsr_processed d where d.tenant_id = c.tenant_id
                                 and d.request_id = c.request_id and d.outcome = 'ambiguous') then 'ambiguous'
                    when h.request_id is not null and c.type = 'erasure' then 'held'  -- a hold stops deletion, not access
                    -- nothing of them is left and an identity the request names is tombstoned: the person was
                    -- erased (by this run's erasures, which run first, another request, `lethe dsar erase`, the
                    -- retention purge of the marts' due list). Final: nothing of them is held to export, restrict or
                    -- correct, and nothing of them can come back (ingest drops it). For a request other than an
                    -- erasure only when it names the erased person's Contact Id: an erased email or phone says the
                    -- address was theirs, not that the requester is (a number given to somebody else since, a
                    -- household line): that stays `no_match`, for the DPO
                    when c.n = 0 and a.request_id is null and e.request_id is not null
                         and (c.type = 'erasure' or e.by_crm_id) then 'erased'
                    when c.n = 0 and a.request_id is null and not c.by_individual then 'no_match'
                    else 'ok' end as outcome,
               s.contact_id, s.individual_id, s.address, c.received_at, e.run_id as erased_run
        from counts c
        left join (select distinct tenant_id, request_id from addr_only) a using (tenant_id, request_id)
        left join held h using (tenant_id, request_id)
        left join erased e using (tenant_id, request_id)
        left join subjects s using (tenant_id, request_id)
    """


def _record(con: duckdb.DuckDBPyConnection, resolved: str, run_id: str | None, ok: str, at: datetime) -> None:
    # a request whose person an earlier run erased is recorded under that run (its fulfilment)
    con.execute(
        _upsert(f"""select distinct tenant_id, request_id, type, case when outcome = 'ok' then '{ok}' else outcome end,
                   case when outcome = 'erased' then erased_run else $run end, $at, received_at from ({resolved})"""),
        {"run": run_id, "at": at, "d": at.date()},
    )


def _erasures(settings: Settings, have: set[str], outcomes: dict[str, int]) -> str | None:
    """Erase every pending erasure subject in one purge run; returns its run id (None if nothing pending)."""
    from lethe.purge import run_engine

    resolved = _resolved_sql(have, _pending_sql(have, ("erasure",), "should_forget", settings.as_of))
    day = settings.as_of.date()
    con = connect(settings)
    try:
        rows = con.execute(f"select outcome, count(distinct tenant_id || request_id) from ({resolved}) group by 1",
                           {"d": day}).fetchall()
    finally:
        con.close()
    if not rows:
        return None
    subjects = (
        f"select distinct tenant_id, contact_id, individual_id, address from ({resolved}) where outcome = 'ok'"
    ).replace("$d", f"DATE '{day.isoformat()}'")
    at = settings.as_of.astimezone(UTC).replace(tzinfo=None)

    def mark(con: duckdb.DuckDBPyConnection, run_id: str | None) -> None:
        _record(con, resolved, run_id, "erased", at)

    def count() -> None:
        for outcome, n in rows:
            key = "erased" if outcome == "ok" else "erased before" if outcome == "erased" else f"erasure {outcome}"
            outcomes[key] = outcomes.get(key, 0) + int(n)

    if all(outcome != "ok" for outcome, _ in rows):  # held, no match, ambiguous: nobody to erase, no purge run
        con = connect(settings)
        try:
            mark(con, None)
        finally:
            con.close()
        count()
        return None
    try:
        result = run_engine(settings, kind="erasure", subjects=subjects, from_mart=False, on_planned=mark)
    except GuardError:
        con = connect(settings)
        try:
            con.execute("delete from lethe_meta.dsr_processed where run_id in (select run_id from "
                        "lethe_meta.purge_runs where status = 'refused')")
        finally:
            con.close()
        raise
    count()
    return result.run_id


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _accesses(settings: Settings, have: set[str], outcomes: dict[str, int]) -> list[str]:
    """Write a JSON export for every pending access or portability request."""
    resolved = _resolved_sql(have, _pending_sql(have, ("access", "portability"), "send_individual_data", settings.as_of))
    at = settings.as_of.astimezone(UTC).replace(tzinfo=None)
    written: list[str] = []
    con = connect(settings)
    try:
        rows = con.execute(
            f"select tenant_id, request_id, any_value(type), any_value(outcome), any_value(contact_id), "
            f"any_value(individual_id), coalesce(list(distinct address) filter (where address is not null), []), "
            f"any_value(received_at), any_value(erased_run) from ({resolved}) group by 1, 2 order by 1, 2",
            {"d": at.date()},
        ).fetchall()
        for start in range(0, len(rows), ACCESS_CHUNK):
            chunk = rows[start:start + ACCESS_CHUNK]
            kept = kept_keys(con, [(r[0], r[5]) for r in chunk if r[3] == "ok" and r[5] is not None])
            ok = [(tenant, request_id, Subject(tenant, contact_id, individual_id,
                                              tuple(sorted(a for a in addresses if "@" in a)),
                                              tuple(sorted(a for a in addresses if "@" not in a)),
                                              kept.get((tenant, individual_id))))
                  for tenant, request_id, _, outcome, contact_id, individual_id, addresses, _at, _run in chunk
                  if outcome == "ok"]
            documents = build_documents(con, settings, [subject for *_, subject in ok])
            for (tenant, request_id, subject), (doc, frames) in zip(ok, documents, strict=True):
                out = settings.exports_dir / tenant / f"{subject_key(settings, subject)}.{_safe(request_id)}.json"
                write_atomic(out, render("json", doc, frames, settings, tenant))  # owner-only, like `lethe dsar export`
                written.append(str(out))
            con.register("_done", pl.DataFrame(
                {"tenant_id": [r[0] for r in chunk], "request_id": [r[1] for r in chunk], "type": [r[2] for r in chunk],
                 "outcome": ["exported" if r[3] == "ok" else r[3] for r in chunk], "received_at": [r[7] for r in chunk],
                 "run_id": [r[8] if r[3] == "erased" else None for r in chunk]},
                schema={"tenant_id": pl.String, "request_id": pl.String, "type": pl.String, "outcome": pl.String,
                        "received_at": pl.Datetime("us"), "run_id": pl.String}))
            try:
                con.execute(_upsert("select tenant_id, request_id, type, outcome, run_id, ?, received_at from _done"), [at])
            finally:
                con.unregister("_done")
            for *_, outcome, _cid, _ind, _addr, _at, _run in chunk:
                key = "exported" if outcome == "ok" else f"access {outcome}"
                outcomes[key] = outcomes.get(key, 0) + 1
    finally:
        con.close()
    return written


def _others(settings: Settings, have: set[str], outcomes: dict[str, int]) -> None:
    """Restriction, objection and rectification, once verified: matched to their subject as erasure and access
    are, then recorded. dbt acts on them from the raw rows: a restriction or objection is `applied` (done once a
    build shows the subject restricted or objecting), a rectification `recorded` (done when the corrected CRM
    record arrives); one naming nobody or several people is recorded as such, and stays open for the DPO."""
    if "dsr_requests" not in have:
        return
    resolved = _resolved_sql(have, _pending_sql(have, ("restriction", "objection", "rectification"), None, settings.as_of))
    at = settings.as_of.astimezone(UTC).replace(tzinfo=None)
    con = connect(settings)
    try:
        # homes processed before 'applied' existed recorded every restriction and objection, matched or not, as
        # 'recorded': those are matched again now (nothing else is ever written with that outcome for them)
        con.execute("delete from lethe_meta.dsr_processed "
                    "where type in ('restriction', 'objection') and outcome = 'recorded'")
        rows = con.execute(
            _upsert(f"""
            select distinct tenant_id, request_id, type,
                   case when outcome <> 'ok' then outcome when type = 'rectification' then 'recorded'
                        else 'applied' end,
                   case when outcome = 'erased' then erased_run end, $at, received_at
            from ({resolved})""") + " returning type, outcome",
            {"at": at, "d": at.date()},
        ).fetchall()
    finally:
        con.close()
    for kind, outcome in rows:
        key = f"{kind} {outcome}"
        outcomes[key] = outcomes.get(key, 0) + 1


def process_requests(settings: Settings) -> RequestsResult:
    """Process every pending request once: erasures in one purge run, access exports, the rest recorded."""
    if not settings.warehouse.exists():
        return RequestsResult()
    con = connect(settings)
    try:
        have = catalog.raw_tables(con)
        if catalog.table_exists(con, "lethe_meta", "tombstones"):
            have.add(TOMBSTONES)
        if catalog.table_exists(con, "lethe_meta", "purge_runs"):
            have.add(PURGE_RUNS)
        con.execute(PROCESSED_DDL)  # lethe.build creates it too (fct_dsr_requests reads it); a home never built lacks it
        add_new_columns(con, load_all_contracts())  # when a CRM flag was first seen set (ingest adds them too)
    finally:
        con.close()
    outcomes: dict[str, int] = {}
    run_id = _erasures(settings, have, outcomes)
    exports = _accesses(settings, have, outcomes)
    _others(settings, have, outcomes)
    if _record_fulfilments(settings):
        _refresh_request_status(settings)
    log.info("data-subject requests: %s", outcomes)
    return RequestsResult(outcomes, run_id, tuple(exports))


def _record_fulfilments(settings: Settings) -> int:
    """Write lethe_meta.dsr_fulfilments (what fct_dsr_requests reads as done) for every request Lethe fulfilled:
    an access or portability export written, an erasure whose purge run finished (an interrupted one counts once
    a later run finished it; so is any request closed as its person's erasure), a restriction or objection once the
    built marts show its subject restricted or objecting (dated at this as-of: the build before it applied it).
    Returns how many were new."""
    from lethe.purge import journal

    at = settings.as_of.astimezone(UTC).replace(tzinfo=None)
    con = connect(settings)
    try:
        journal.ensure(con)
        con.execute(FULFILMENTS_DDL)
        # a restriction lifted (GDPR Art. 18(3)) before a build showed it standing has run its course
        lifted = ("or (d.type = 'restriction' and exists (select 1 from raw.dsr_requests q where q.tenant_id = "
                  "d.tenant_id and q.request_id = d.request_id and q.restriction_lifted_at <= $at))"
                  if "restriction_lifted_at" in catalog.columns(con, "raw", "dsr_requests") else "")
        applied = (
            f"""
            union all
            select d.tenant_id, d.request_id, d.outcome, $at from lethe_meta.dsr_processed d
            join marts.fct_dsr_requests r using (tenant_id, request_id)
            join marts.dim_subjects s on s.tenant_id = r.tenant_id and s.subject_key = r.subject_key
            where d.outcome = 'applied'
              and (case d.type when 'restriction' then s.is_restricted when 'objection' then s.is_objecting end
                   {lifted})
            """
            if catalog.table_exists(con, "marts", "fct_dsr_requests") and catalog.table_exists(con, "marts", "dim_subjects")
            else ""
        )
        rows = con.execute(
            f"""
            insert into lethe_meta.dsr_fulfilments
            select * from (
                select d.tenant_id, d.request_id, d.outcome, d.processed_at from lethe_meta.dsr_processed d
                where d.outcome = 'exported' or (d.outcome = 'erased' and exists (
                          select 1 from lethe_meta.purge_runs r where r.run_id = d.run_id and r.status = 'done'))
                {applied}
            ) n
            -- a CRM flag request made again is fulfilled again: a later fulfilment is a new row
            where not exists (select 1 from lethe_meta.dsr_fulfilments f
                              where f.tenant_id = n.tenant_id and f.request_id = n.request_id
                                and (n.outcome = 'applied' or f.fulfilled_at >= n.processed_at))
            returning request_id
            """,
            {"at": at} if applied else {},
        ).fetchall()
    finally:
        con.close()
    return len(rows)


def _refresh_request_status(settings: Settings) -> None:
    """Rebuild the request tracking mart (and what reads it), so the requests just fulfilled show as done now,
    not after the next build; nothing to do in a home dbt never built."""
    from lethe.build import dbt_target_dir, run_build

    if (dbt_target_dir(settings) / "manifest.json").exists():
        run_build(settings, select="fct_dsr_requests+", unit_tests=False)
