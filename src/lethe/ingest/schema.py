"""DDL of the raw, quarantine and lethe_meta tables ingest writes (layouts in docs/INTERFACES.md)."""

from __future__ import annotations

import duckdb

from lethe.contracts import Contract
from lethe.contracts.rules import SQL_TYPE, q

META_DDL = [
    """create table if not exists quarantine.rows (
        tenant_id varchar, dataset varchar, source_file varchar, source_row bigint, rule varchar,
        reason varchar, record varchar, batch_id varchar, quarantined_at timestamp)""",
    """create table if not exists quarantine.files (
        tenant_id varchar, dataset varchar, source_file varchar, reason varchar, batch_id varchar,
        quarantined_at timestamp)""",
    """create table if not exists lethe_meta.manifest (
        path varchar primary key, tenant_id varchar, dataset varchar, size_bytes bigint, sha256 varchar,
        batch_id varchar, loaded_at timestamp, status varchar, rows_loaded bigint, rows_quarantined bigint,
        duplicates_skipped bigint)""",
    """create table if not exists lethe_meta.validation_results (
        dataset varchar, tenant_id varchar, batch_id varchar, expectation varchar, rule varchar,
        column_name varchar, success boolean, unexpected_count bigint, element_count bigint,
        sql_unexpected_count bigint, validated_at timestamp, quarantined_count bigint)""",
    # how many of the batch's rows ingest quarantined for breaking a rule (not for a conflicting repeat of a key, not
    # for an unknown tenant), kept with the batch's results: a purge deletes quarantined rows later (an erasure, their
    # retention), and the purge's guard must still see that the batch's bad rows were held back (lethe.purge.guards).
    # Null in a home ingested before it existed: the guard then counts the quarantine as it is
    "alter table lethe_meta.validation_results add column if not exists quarantined_count bigint",
]

# The addresses a CRM contact held before a later version of it changed them: one row per (contact, address) that
# an older version had and the version kept in raw.crm_contacts lacks (ingest writes it). Personal data: identity
# resolution keeps an old address with its person (an unsubscribe from it, its calls and mails stay theirs), an
# erasure or the contact's retention deletes the rows with the contact, offboarding with the tenant.
PREVIOUS_ADDRESSES_DDL = """create table if not exists lethe_meta.crm_contact_previous_addresses (
    tenant_id varchar not null, contact_id varchar not null, kind varchar not null, address varchar not null,
    superseded_at timestamp, batch_id varchar)"""
META_DDL.append(PREVIOUS_ADDRESSES_DDL)

# Every copy of a record that is NOT the row in raw (a re-delivery that lost dedupe, or a row a later copy
# replaced): the purge finds the landing files holding a record from raw._source_file plus these, without
# scanning the landing zone. record_id is the dataset's first dedupe-key column, as text.
COPIES_DDL = """create table lethe_meta.record_copies (
    tenant_id varchar not null, dataset varchar not null, record_id varchar not null,
    source_file varchar not null, source_row bigint, batch_id varchar)"""
# (tenant, dataset) pairs loaded before copies were recorded: for them the purge still scans every file.
UNTRACKED_DDL = "create table lethe_meta.record_copies_untracked (tenant_id varchar, dataset varchar)"


def raw_columns(contract: Contract) -> list[tuple[str, str]]:
    """(name, DuckDB type) of a raw table: tenant_id, the contract's properties in order, when each tracked flag
    was first seen set (trackedSince), load metadata."""
    cols = [] if contract.centre else [("tenant_id", "varchar")]
    cols += [(p.name, SQL_TYPE[p.logical_type]) for p in contract.properties]
    cols += [(contract.since_column(name), "timestamp") for name in contract.tracked_since]
    cols += [("_source_file", "varchar"), ("_source_row", "bigint"), ("_batch_id", "varchar"), ("_loaded_at", "timestamp")]
    return cols


def ensure(con: duckdb.DuckDBPyConnection, contracts: dict[str, Contract]) -> None:
    """Create every table ingest writes, if missing."""
    from lethe import tombstones

    tombstones.ensure(con)
    for ddl in META_DDL:
        con.execute(ddl)
    ensure_copies(con)
    for contract in contracts.values():
        cols = ", ".join(f"{q(n)} {t}" for n, t in raw_columns(contract))
        con.execute(f"create table if not exists raw.{q(contract.dataset)} ({cols})")
    add_new_columns(con, contracts)


def add_new_columns(con: duckdb.DuckDBPyConnection, contracts: dict[str, Contract]) -> None:
    """Add to raw tables made by older code the columns their contract has gained since (a new optional
    property, a trackedSince column; null in the rows already there), so a build, a DSR run or an ingest on
    such a home reads them: the staging views select every contract column. Tables only: a view is left as it is."""
    have: dict[str, set[str]] = {}
    for table, column in con.execute(
        "select c.table_name, c.column_name from duckdb_columns() c semi join duckdb_tables() t "
        "on t.database_name = c.database_name and t.schema_name = c.schema_name and t.table_name = c.table_name "
        "where c.database_name = current_database() and c.schema_name = 'raw'"
    ).fetchall():
        have.setdefault(table, set()).add(column.lower())
    for contract in contracts.values():
        present = have.get(contract.dataset)
        if present is None:
            continue
        for name, sql_type in raw_columns(contract):
            if name.lower() not in present:
                con.execute(f"alter table raw.{q(contract.dataset)} add column if not exists {q(name)} {sql_type}")


PURGED_NAME = "purged-"
"""The file name the manifest gives a landing file a purge deleted: `<folder>/purged-<keyed hash of the path>`."""


def purged_name(key: bytes, tenant_id: str, rel: str) -> str:
    """The manifest path of a deleted landing file (hide_purged_paths), from its path relative to the landing root."""
    from lethe.keys import keyed_hash

    folder = rel[: rel.rfind("/") + 1]  # with its '/', as the SQL of hide_purged_paths keeps it
    return f"{folder}{PURGED_NAME}{keyed_hash(key, tenant_id, 'landing_file', rel)}"


def hide_purged_paths(con: duckdb.DuckDBPyConnection) -> int:
    """Replace the path of every landing file a purge deleted (manifest status 'purged'), in the manifest and in
    quarantine.files, by its folder and a keyed hash of the path: transcripts and recordings are named by their
    Amazon Connect ContactId, and an erasure leaves nobody's ids in clear. Ingest still knows a file that comes back
    at that path (purged_name). Returns how many paths it hid."""
    from lethe.catalog import table_exists
    from lethe.keys import sql_keyed_hash

    if not table_exists(con, "lethe_meta", "manifest"):
        return 0
    name = sql_keyed_hash("tenant_id", "landing_file", "path")
    con.execute(f"""
        create or replace temp table _hidden as
        select path, tenant_id, regexp_replace(path, '[^/]*$', '') || '{PURGED_NAME}' || {name} as hidden
        from lethe_meta.manifest
        where status = 'purged' and not regexp_matches(path, '(^|/){PURGED_NAME}[0-9a-f]{{64}}$')
    """)  # noqa: S608
    try:
        n = con.execute("select count(*) from _hidden").fetchone()[0]
        if not n:
            return 0
        # one transaction: killed after the manifest's update, quarantine.files would keep the clear paths for good
        # (the next call finds no manifest path left to hide)
        con.execute("begin")
        try:
            # purged before at the same path (it came back and was purged again): one row tells it
            con.execute("delete from lethe_meta.manifest where path in (select hidden from _hidden)")
            con.execute("update lethe_meta.manifest m set path = h.hidden from _hidden h where m.path = h.path")
            if table_exists(con, "quarantine", "files"):
                con.execute("update quarantine.files f set source_file = h.hidden from _hidden h "
                            "where f.source_file = h.path and f.tenant_id = h.tenant_id")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        return int(n)
    finally:
        con.execute("drop table if exists _hidden")


def ensure_copies(con: duckdb.DuckDBPyConnection) -> None:
    """Create lethe_meta.record_copies if missing; whatever the manifest already holds is marked untracked."""
    from lethe.catalog import table_exists

    if table_exists(con, "lethe_meta", "record_copies"):
        return
    con.execute("begin transaction")
    try:
        con.execute(UNTRACKED_DDL)
        con.execute("insert into lethe_meta.record_copies_untracked select distinct tenant_id, dataset "
                    "from lethe_meta.manifest where tenant_id is not null")
        con.execute(COPIES_DDL)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
