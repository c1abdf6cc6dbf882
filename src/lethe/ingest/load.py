"""Load one batch of one tenant's dataset: check rules, drop tombstoned, quarantine, dedupe, merge, record.

Everything a batch writes (raw rows, quarantine, manifest, validation results) is committed in one
transaction, so a run killed mid-way leaves nothing half-loaded and a retry starts clean. Records of erased
subjects (tombstoned) are dropped before anything is written, and the landing files that carried them are
rewritten without them (or deleted) before that transaction: a run killed in between finds those files new
and loads what is left of them.
"""

# ruff: noqa: S608 -- SQL is generated from contract identifiers, quoted with q(); values with _lit() or bound.

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl
import pyarrow as pa

from lethe.contracts import Contract
from lethe.contracts.rules import build_rules, failing_sql, field, q, typed_sql
from lethe.contracts.suite import ExpectationOutcome, validate_batch
from lethe.ingest.files import LandingFile
from lethe.ingest.normalise import normalise
from lethe.ingest.parse import STAGE, UNPARSED, UNPARSED_DDL, FileProblem, parse_batch
from lethe.ingest.schema import raw_columns
from lethe.keys import sql_crm_contact_attribute, sql_keyed_hash, sql_recording_contact_id

log = logging.getLogger(__name__)

PHASES = ("parse", "normalise", "validate_sql", "gx", "dedupe_write")  # timed per batch, logged
RECORD_CHARS = 16_384  # a quarantined record is truncated to this many characters
TOMBSTONE_EXEMPT = {"dsr_requests", "legal_holds", "agents", "breaches"}  # evidence of the erasure itself


@dataclass(frozen=True)
class BatchResult:
    """Counts of one committed batch."""

    files: int
    loaded: int
    duplicates_skipped: int
    replaced: int
    quarantined_rows: int
    quarantined_files: int
    tombstoned: int
    failed_expectations: int
    reasons: tuple[str, ...]


MANIFEST_COLUMNS = ["path", "tenant_id", "dataset", "size_bytes", "sha256", "batch_id", "loaded_at", "status",
                    "rows_loaded", "rows_quarantined", "duplicates_skipped"]
VALIDATION_COLUMNS = ["dataset", "tenant_id", "batch_id", "expectation", "rule", "column_name", "success",
                      "unexpected_count", "element_count", "sql_unexpected_count", "validated_at", "quarantined_count"]


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list[tuple], *, replace: bool = False) -> None:
    """Insert many rows at once through Arrow (DuckDB's executemany runs one statement per row)."""
    if not rows:
        return
    data = pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)})
    con.register("_rows", data)
    try:
        verb = "insert or replace" if replace else "insert"
        names = ", ".join(columns)
        con.execute(f"{verb} into {table} ({names}) select {names} from _rows")
    finally:
        con.unregister("_rows")


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _stage_recordings(con: duckdb.DuckDBPyConnection, tenant: str, files: list[LandingFile]) -> None:
    prefix = f"{tenant}/"
    con.register("_rec", pa.table({
        "_source_file": [f.rel for f in files],
        "recording_path": [f.rel.removeprefix(prefix) for f in files],
        "size_bytes": [str(f.size) for f in files],
        "content_sha256": [f.sha256 for f in files],
    }))
    con.execute(f"""create or replace temp table {STAGE} as select _source_file, 1::bigint as _source_row,
        cast(null as varchar) as _parse_error, recording_path, size_bytes, content_sha256 from _rec""")
    con.unregister("_rec")


def _identity_sql(contract: Contract, tenant: str, *, exempt: bool = False) -> str | None:
    """SQL true where a row's identity matches a tombstone of the same tenant (None for a dataset exempt from
    the tombstone check, unless `exempt`: then also its CRM contact id, to tell a re-delivery naming an erased
    subject)."""
    if contract.dataset in TOMBSTONE_EXEMPT and not exempt:
        return None
    checks = []
    t = _lit(tenant)

    def hit(kind: str, value: str) -> str:
        return (f"{sql_keyed_hash(t, kind, value)} in (select identity_hash from lethe_meta.tombstones "
                f"where tenant_id = {t} and kind = '{kind}')")

    for p in contract.properties:
        col = q(p.name)
        if p.format == "email":
            checks.append(hit("email", col))
        elif p.format == "phone":
            checks.append(hit("phone", col))
        elif p.format == "contact_address":
            checks.append(f"case when {col} like '%@%' then {hit('email', col)} else {hit('phone', col)} end")
    if contract.dataset == "crm_contacts":
        checks.append(hit("contact", q("id")))
    if contract.dataset == "crm_individuals":  # an erased person's Individual, and the consents it is party to
        checks.append(hit("individual", q("id")))
    if contract.dataset == "crm_consents":
        checks.append(hit("individual", q("party_id")))
    if exempt and "crm_contact_id" in contract.column_names:
        checks.append(hit("contact", q("crm_contact_id")))
    if contract.dataset in ("contact_records", "transcripts"):
        checks.append(hit("connect_contact", q("contact_id")))
    if contract.dataset == "contact_records" and "attributes" in contract.column_names:
        # a new interaction naming an erased customer only by its CRM contact id (a TASK's crmContactId attribute)
        checks.append(hit("contact", sql_crm_contact_attribute(q("attributes"))))
    if contract.dataset == "recordings":
        checks.append(hit("connect_contact", sql_recording_contact_id(q("recording_path"))))
    return " or ".join(f"coalesce({c}, false)" for c in checks) if checks else None


def _check(con: duckdb.DuckDBPyConnection, contract: Contract, future_limit: datetime, tomb: str | None,
           erased: str | None = None) -> list:
    rules = build_rules(contract, future_limit)
    typed = ", ".join(f"{typed_sql(p, q(p.name))} as {q(p.name + '__typed')}" for p in contract.properties)
    flags = ", ".join(f"{failing_sql(r)} as _f{i}" for i, r in enumerate(rules))
    first_rule = " ".join(f"when _f{i} then {_lit(r.name)}" for i, r in enumerate(rules))
    first_reason = " ".join(f"when _f{i} then {_lit(r.reason)}" for i, r in enumerate(rules))
    con.execute(f"""
        create or replace temp table _checked as
        select *,
               case when _parse_error is not null then 'parse' {first_rule} end as _rule,
               case when _parse_error is not null then _parse_error {first_reason} end as _reason,
               {tomb or 'false'} as _tombstoned,
               {erased or 'false'} as _erased
        from (select *, {flags} from (select *, {typed} from {STAGE}))
    """)
    return rules


def _tombstone_unparsed(con: duckdb.DuckDBPyConnection, tenant: str) -> None:
    """Mark tombstoned the records that did not parse but whose text holds an erased subject's identity (an
    address, a phone in any format, an id): their fields are null, so the check on parsed fields cannot see them,
    and a re-delivered, truncated copy of an erased record must be dropped like a whole one, not quarantined."""
    from lethe.refused import tombstoned_texts

    texts = con.execute(f"select {_lit(tenant)} as tenant, _source_file || '#' || _source_row as rel, _text as text "
                        f"from {UNPARSED}").pl()
    hits = tombstoned_texts(con, texts)
    if hits:
        con.execute("update _checked set _tombstoned = true where list_contains($rels, _source_file || '#' || _source_row)",
                    {"rels": [rel for _, rel in hits]})


def _gx(con: duckdb.DuckDBPyConnection, contract: Contract, rules: list, future_limit: datetime) -> list[tuple]:
    """Run the GX suite on the batch and pair each expectation with the set-based count of the same rule."""
    cols = sorted({c for r in rules for c in r.columns})
    table = con.execute(f"select {', '.join(q(c) for c in cols)} from _checked where _parse_error is null").arrow()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    if table.num_rows == 0:
        return []
    counts = con.execute(
        "select " + ", ".join(f"count(*) filter (where _f{i})" for i in range(len(rules)))
        + " from _checked where _parse_error is null"
    ).fetchone()
    by_rule = {r.name: counts[i] for i, r in enumerate(rules)}
    outcomes: list[ExpectationOutcome] = validate_batch(contract, table, future_limit)
    return [(o, by_rule[o.rule]) for o in outcomes]


def _quarantine_conflicts(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Quarantine a row whose key comes again later in the same file with other values (two versions of request
    dsr-7 in one export: an erasure, then an access request). A record with no modification time of its own is
    replaced by the later delivery, and within one file by its later row, which is loaded; the earlier one was
    counted as a duplicate, so a different request went unseen. A row repeating the loaded one exactly is still a
    plain duplicate."""
    key = " and ".join(f"c.{q(k + '__typed')} is not distinct from l.{q(k + '__typed')}" for k in contract.dedupe_key)
    same = " and ".join(f"c.{q(p.name + '__typed')} is not distinct from l.{q(p.name + '__typed')}"
                        for p in contract.properties)
    names = " and ".join(field(contract.prop(k)) for k in contract.dedupe_key)
    reason = (f"{names} comes again later in this file with other values: the file's last row for it was loaded, "
              "this one was not (deliver a correction as a new file)")
    partition = ", ".join(q(k + "__typed") for k in contract.dedupe_key)
    con.execute(f"""
        update _checked c set _rule = {_lit('conflict:' + '+'.join(contract.dedupe_key))}, _reason = {_lit(reason)}
        from (select * from (select *, row_number() over (partition by _source_file, {partition}
                                                          order by _source_row desc) as _last
                             from _checked where _rule is null) where _last = 1) l
        where c._rule is null and c._source_file = l._source_file and c._source_row < l._source_row
          and {key} and not ({same})
    """)


@dataclass(frozen=True)
class KnownTenants:
    """The tenants of the tenant policy file, and the file (named in the quarantine reason)."""

    names: frozenset[str]
    policy_file: str


def _quarantine_unknown_tenants(con: duckdb.DuckDBPyConnection, known: KnownTenants) -> None:
    """Quarantine a centre row (an agent's training, a breach) whose tenant_id is no tenant of the policy file: a
    typo ('acme-enrgy') loaded an agent nobody's contacts matched, so the agent's calls for the real tenant showed
    as handled without valid training, and a breach under a client the centre does not serve."""
    reason = f"tenant_id is not a tenant in the tenant policy file {known.policy_file}"
    con.execute(f"""
        update _checked set _rule = 'tenant:tenant_id', _reason = {_lit(reason)}
        where _rule is null and not list_contains($names, {q('tenant_id__typed')})
    """, {"names": sorted(known.names)})


def _tombstone_dropped_contacts(con: duckdb.DuckDBPyConnection, tenant: str, batch_id: str, now: datetime) -> None:
    """A contact record dropped as an erased subject's (its address or crmContactId matched a tombstone) takes
    its ContactId with it: the transcript and the recording Amazon Connect delivers for that contact (loaded after
    the contact records, in this run or a later one) are dropped as well. Keyed hashes only, in the batch's
    transaction."""
    t = _lit(tenant)
    con.execute(f"""
        insert or ignore into lethe_meta.tombstones (tenant_id, kind, identity_hash, erased_at, run_id)
        select distinct {t}, 'connect_contact', {sql_keyed_hash(t, 'connect_contact', q('contact_id'))},
               $now::timestamp, $batch
        from _checked where _tombstoned and {q('contact_id')} is not null
    """, {"now": now.replace(tzinfo=None), "batch": batch_id})


def _scrub(con: duckdb.DuckDBPyConnection, contract: Contract, files: list[LandingFile]) -> tuple[int, list[LandingFile], set[str]]:
    """Drop the batch's tombstoned records (re-delivered after their subject's erasure) from the batch and from
    the landing files that carry them: a file is rewritten without them (atomically), or deleted when nothing else
    is in it; a recording or transcript file is deleted. The rows left in a rewritten file are renumbered to
    their new positions. Returns (records dropped, files with their new size and hash, paths deleted)."""
    from lethe.purge.files import drop_records, write_many

    hits = con.execute("select _source_file, _source_row from _checked where _tombstoned").pl()
    if hits.height == 0:
        return 0, files, set()
    by_rel = {f.rel: f for f in files}
    touched = sorted(set(hits["_source_file"].to_list()))
    if contract.format in ("file", "json"):  # one recording or one contact's transcript per file
        new: dict = dict.fromkeys((by_rel[r].path for r in touched), None)
    else:
        where = pl.DataFrame({"_source_file": touched, "file": [str(by_rel[r].path) for r in touched]})
        new = drop_records(con, contract.format, hits.join(where, on="_source_file").select(
            "file", pl.col("_source_row").alias("pos")))
    gone = {r for r in touched if new.get(by_rel[r].path) is None}
    write_many({path: data for path, data in new.items() if data is not None})
    for rel in sorted(gone):
        by_rel[rel].path.unlink(missing_ok=True)
    con.execute("delete from _checked where _tombstoned or list_contains($gone, _source_file)", {"gone": sorted(gone)})
    con.execute("""
        update _checked c set _source_row = n.pos
        from (select _source_file, _source_row,
                     row_number() over (partition by _source_file order by _source_row) as pos
              from _checked where list_contains($touched, _source_file)) n
        where c._source_file = n._source_file and c._source_row = n._source_row
    """, {"touched": touched})
    rewritten = {r for r in touched if r not in gone}
    files = [LandingFile(f.path, f.rel, len(data), hashlib.sha256(data).hexdigest())
             if f.rel in rewritten and (data := new[f.path]) is not None else f for f in files]
    log.info("%s: %d tombstoned record(s) dropped; %d landing file(s) rewritten, %d deleted",
             contract.dataset, hits.height, len(rewritten), len(gone))
    return hits.height, files, gone


def _record_copies(con: duckdb.DuckDBPyConnection, contract: Contract, tenant: str, batch_id: str) -> None:
    """Record every batch row that will not be the raw row (set-based, inside the batch's transaction): rows that
    lost dedupe within the batch, and rows an existing raw row beats (raw rows a batch row replaces: _replace_rows)."""
    key = contract.dedupe_key[0]
    t, d, b = _lit(tenant), _lit(contract.dataset), _lit(batch_id)
    con.execute(f"""
        insert into lethe_meta.record_copies
        select {t}, {d}, cast({q(key + '__typed')} as varchar), _source_file, _source_row, {b}
        from _cand where _rn > 1 and {q(key + '__typed')} is not null
        union all
        select {t}, {d}, cast({q(key + '__typed')} as varchar), _source_file, _source_row, {b}
        from _win where _raw_wins and {q(key + '__typed')} is not null
    """)


def _keep_previous_addresses(con: duckdb.DuckDBPyConnection, tenant: str, batch_id: str, key_match: str,
                             tenant_filter: str, now: datetime) -> None:
    """Record the addresses (email, phone, mobile phone) an older version of a CRM contact held that the version
    kept in raw lacks: the raw row a batch row replaces, batch rows that lost dedupe, batch rows older than the
    raw row. Set-based, inside the batch's transaction; an address already recorded for the contact is skipped."""
    t = _lit(tenant)

    def typed(alias: str) -> str:
        return (f"{alias}.{q('id__typed')} as contact_id, {alias}.{q('email__typed')} as email, "
                f"{alias}.{q('phone__typed')} as phone, {alias}.{q('mobile_phone__typed')} as mobile_phone")

    con.execute(f"""
        insert into lethe_meta.crm_contact_previous_addresses
        with matched as (  -- the raw row of each batch winner's contact, and which of the two stays
            select r.id as contact_id, r.email, r.phone, r.mobile_phone, c._raw_wins
            from raw.crm_contacts r join _win c on {key_match} {tenant_filter}
        ),
        older as (
            select contact_id, email, phone, mobile_phone from matched where not _raw_wins
            union all select {typed('c')} from _cand c where c._rn > 1
            union all select {typed('c')} from _win c where c._raw_wins
        ),
        kept as (
            select {typed('c')} from _win c where not c._raw_wins
            union all select contact_id, email, phone, mobile_phone from matched where _raw_wins
        ),
        addresses as (
            select distinct contact_id, a.kind, a.address
            from older, unnest([{{'kind': 'email', 'address': email}}, {{'kind': 'phone', 'address': phone}},
                                {{'kind': 'phone', 'address': mobile_phone}}]) as x(a)
            where contact_id is not null and a.address is not null
        )
        select {t}, a.contact_id, a.kind, a.address, $now::timestamp, $batch
        from addresses a
        where not exists (select 1 from kept k where k.contact_id = a.contact_id
                          and a.address in (k.email, k.phone, k.mobile_phone))
          and not exists (select 1 from lethe_meta.crm_contact_previous_addresses p where p.tenant_id = {t}
                          and p.contact_id = a.contact_id and p.address = a.address)
    """, {"now": now, "batch": batch_id})


def _replace_rows(con: duckdb.DuckDBPyConnection, contract: Contract, raw: str, tenant: str, batch_id: str,
                  key_match: str, tenant_filter: str) -> int:
    """Delete the raw rows a batch row replaces; record each as a copy (its file still holds it)."""
    key = contract.dedupe_key[0]
    gone = con.execute(f"""
        delete from {raw} r using _win c
        where not c._raw_wins {tenant_filter} and {key_match}
        returning cast({q(key)} as varchar) as record_id, _source_file, _source_row
    """).arrow()
    if isinstance(gone, pa.RecordBatchReader):
        gone = gone.read_all()
    if gone.num_rows and not contract.centre:
        con.register("_gone", gone)
        try:
            con.execute(f"insert into lethe_meta.record_copies select {_lit(tenant)}, {_lit(contract.dataset)}, "
                        f"record_id, _source_file, _source_row, {_lit(batch_id)} from _gone "
                        "where record_id is not null and _source_file is not null")
        finally:
            con.unregister("_gone")
    return gone.num_rows


def load_batch(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    tenant: str,
    files: list[LandingFile],
    *,
    batch_id: str,
    future_limit: datetime,
    now: datetime,
    known_tenants: KnownTenants | None = None,
) -> BatchResult:
    """Parse, validate and load one batch of new files; commit everything it writes at once. The centre's own
    records naming a tenant (agents, breaches) are checked against `known_tenants`, the tenant policy file's."""
    clock = [time.perf_counter()]
    if contract.format == "file":
        _stage_recordings(con, tenant, files)
        con.execute(UNPARSED_DDL)  # recordings are files, never records that fail to parse
        problems: list[FileProblem] = []
    else:
        problems = parse_batch(con, contract, files)
    clock.append(time.perf_counter())
    if contract.format != "file":
        normalise(con, contract, tenant)
    clock.append(time.perf_counter())
    tomb = _identity_sql(contract, tenant)
    # a re-delivery naming an erased subject never replaces the raw row the erasure anonymised
    erased = _identity_sql(contract, tenant, exempt=True) if contract.latest_delivery_wins and not tomb else None
    rules = _check(con, contract, future_limit, tomb, erased)
    if tomb:
        _tombstone_unparsed(con, tenant)
    if tomb and contract.dataset == "contact_records":
        _tombstone_dropped_contacts(con, tenant, batch_id, now)
    tombstoned, files, scrubbed = _scrub(con, contract, files) if tomb else (0, files, set())
    if contract.latest_delivery_wins:
        _quarantine_conflicts(con, contract)
    if known_tenants is not None and contract.centre and "tenant_id" in contract.column_names:
        _quarantine_unknown_tenants(con, known_tenants)
    clock.append(time.perf_counter())
    validations = _gx(con, contract, rules, future_limit)
    clock.append(time.perf_counter())

    key = [q(k + "__typed") for k in contract.dedupe_key]
    latest = q(contract.latest_wins_by + "__typed") if contract.latest_wins_by else None
    if latest:
        order = f"{latest} desc nulls last, _source_file desc, _source_row desc"
    elif contract.latest_delivery_wins:
        order = "_source_file desc, _source_row desc"
    else:
        order = "_source_file asc, _source_row asc"
    con.execute(f"""
        create or replace temp table _cand as
        select *, row_number() over (partition by {', '.join(key)} order by {order}) as _rn
        from _checked where _rule is null
    """)
    raw = f"raw.{q(contract.dataset)}"
    tenant_filter = "" if contract.centre else f"and r.tenant_id = {_lit(tenant)}"
    key_match = " and ".join(
        f"r.{q(k)} = c.{q(k + '__typed')}" if contract.prop(k).required
        else f"r.{q(k)} is not distinct from c.{q(k + '__typed')}"  # an optional key part may be empty
        for k in contract.dedupe_key
    )
    types = dict(raw_columns(contract))
    if latest:
        raw_wins = (f"(r.{q(contract.latest_wins_by)} > c.{latest} or c.{latest} is null "
                    f"or (r.{q(contract.latest_wins_by)} = c.{latest} and r._source_file > c._source_file))")
    elif contract.latest_delivery_wins:
        # this batch is the later delivery: it replaces the raw row, unless it repeats it field for field (a plain
        # duplicate, skipped) or names an erased subject (the raw row, anonymised by the erasure, stays)
        same = " and ".join(f"r.{q(p.name)} is not distinct from cast(c.{q(p.name + '__typed')} as {types[p.name]})"
                            for p in contract.properties)
        raw_wins = f"(({same}) or c._erased)"
    else:
        raw_wins = "true"
    # a tracked flag keeps when it was first seen set: from the raw row this version replaces while it stays set
    old_since = "".join(
        f", (select max(case when r.{q(name)} then coalesce(r.{q(contract.since_column(name))}, "
        f"r.{q(contract.latest_wins_by)}) end) from {raw} r where {key_match} {tenant_filter}) "
        f"as {q('_old' + contract.since_column(name))}"
        for name in contract.tracked_since
    )
    con.execute(f"""
        create or replace temp table _win as
        select c.*, exists (select 1 from {raw} r where {key_match} {tenant_filter} and {raw_wins}) as _raw_wins{old_since}
        from _cand c where _rn = 1
    """)
    cols = [c for c, _ in raw_columns(contract)]
    since = {contract.since_column(name): name for name in contract.tracked_since}
    values = []
    for c in cols:
        if c == "tenant_id" and not contract.centre:
            values.append(_lit(tenant))
        elif c == "_batch_id":
            values.append(_lit(batch_id))
        elif c == "_loaded_at":
            values.append(f"timestamp '{now.isoformat(sep=' ')}'")
        elif c in since:
            values.append(f"case when {q(since[c] + '__typed')} then coalesce({q('_old' + c)}, {latest}) end")
        elif c.startswith("_"):
            values.append(q(c))
        else:
            values.append(f"cast({q(c + '__typed')} as {types[c]})")
    text_cols = [p.name for p in contract.properties]
    record = "{" + ", ".join(f"{_lit(c)}: {q(c)}" for c in text_cols) + "}"
    ts = f"timestamp '{now.isoformat(sep=' ')}'"
    t = _lit(tenant)
    d = _lit(contract.dataset)

    stamp = now.replace(tzinfo=None)
    con.execute("begin transaction")
    try:
        con.execute(f"""
            insert into quarantine.rows
            select {t}, {d}, c._source_file, c._source_row, _rule, _reason,
                   left(coalesce(u._text, cast(to_json({record}) as varchar)), {RECORD_CHARS}), {_lit(batch_id)}, {ts}
            from _checked c
            left join {UNPARSED} u on c._rule = 'parse' and u._source_file = c._source_file
                and u._source_row = c._source_row
            where _rule is not null
        """)
        # a path tried again (refused whole before, new content since) is judged anew: the old refusal goes,
        # the new one (if any) takes its place, so a file that now loads is no longer reported as refused
        con.execute("delete from quarantine.files where tenant_id = ? and dataset = ? and list_contains(?, source_file)",
                    [tenant, contract.dataset, [f.rel for f in files]])
        if problems:
            insert_rows(con, "quarantine.files", ["tenant_id", "dataset", "source_file", "reason", "batch_id", "quarantined_at"],
                    [(tenant, contract.dataset, p.rel, p.reason, batch_id, stamp) for p in problems])
        if not contract.centre:
            _record_copies(con, contract, tenant, batch_id)
        if contract.dataset == "crm_contacts":
            _keep_previous_addresses(con, tenant, batch_id, key_match, tenant_filter, stamp)
        replaced = _replace_rows(con, contract, raw, tenant, batch_id, key_match, tenant_filter)
        con.execute(f"insert into {raw} ({', '.join(q(c) for c in cols)}) "
                    f"select {', '.join(values)} from _win where not _raw_wins")
        bad = {p.rel: p.reason for p in problems}
        per_file = dict.fromkeys((f.rel for f in files), (0, 0, 0))
        for rel, loaded, quarantined, dups in con.execute("""
            select _source_file, sum(l), sum(q), sum(d) from (
                select _source_file, 0 as l, count(*) as q, 0 as d from _checked where _rule is not null group by 1
                union all
                select _source_file, 0, 0, count(*) from _cand where _rn > 1 group by 1
                union all
                select _source_file, count(*) filter (where not _raw_wins), 0, count(*) filter (where _raw_wins)
                from _win group by 1
            ) group by 1
        """).fetchall():
            per_file[rel] = (loaded, quarantined, dups)
        insert_rows(con, "lethe_meta.manifest", MANIFEST_COLUMNS,
                [(f.rel, tenant, contract.dataset, f.size, f.sha256, batch_id, stamp,
                  "purged" if f.rel in scrubbed else "quarantined" if f.rel in bad else "loaded", *per_file[f.rel])
                 for f in files], replace=True)
        if validations:
            # the rows held back for the rules GX checks (a conflicting repeat or an unknown tenant passed them)
            held_back = con.execute("select count(*) from _checked where _rule is not null and _rule not like 'conflict:%' "
                                    "and _rule not like 'tenant:%'").fetchone()[0]
            insert_rows(con, "lethe_meta.validation_results", VALIDATION_COLUMNS,
                    [(contract.dataset, tenant, batch_id, o.expectation, o.rule, o.column, o.success,
                      o.unexpected_count, o.element_count, sql_count, stamp, held_back) for o, sql_count in validations])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    totals = [sum(v[i] for v in per_file.values()) for i in range(3)]
    reason_rows = con.execute(
        "select _reason, count(*) from _checked where _rule is not null group by 1 order by 2 desc, 1 limit 10"
    ).fetchall()
    reasons = tuple(f"{n} row(s): {r}" for r, n in reason_rows)
    reasons += tuple(f"file {p.rel}: {p.reason}" for p in problems)
    for tmp in ("_checked", "_cand", "_win", STAGE):
        con.execute(f"drop table if exists {tmp}")
    clock.append(time.perf_counter())
    phases = dict(zip(PHASES, (b - a for a, b in zip(clock, clock[1:], strict=False)), strict=True))
    log.info("batch %s: %d files, %s", batch_id, len(files), ", ".join(f"{k} {v:.2f}s" for k, v in phases.items()),
             extra={"lethe_phases": phases})
    return BatchResult(
        files=len(files),
        loaded=totals[0],
        duplicates_skipped=totals[2],
        replaced=int(replaced),
        quarantined_rows=totals[1],
        quarantined_files=len(problems),
        tombstoned=int(tombstoned),
        failed_expectations=sum(1 for o, _ in validations if not o.success),
        reasons=reasons,
    )
