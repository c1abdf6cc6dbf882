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
        sql_unexpected_count bigint, validated_at timestamp)""",
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
    such a home reads them: the staging views select every contract column."""
    have: dict[str, set[str]] = {}
    for table, column in con.execute(
        "select table_name, column_name from duckdb_columns() where database_name = current_database() "
        "and schema_name = 'raw'"
    ).fetchall():
        have.setdefault(table, set()).add(column.lower())
    for contract in contracts.values():
        present = have.get(contract.dataset)
        if present is None:
            continue
        for name, sql_type in raw_columns(contract):
            if name.lower() not in present:
                con.execute(f"alter table raw.{q(contract.dataset)} add column if not exists {q(name)} {sql_type}")


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
