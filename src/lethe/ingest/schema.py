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


def raw_columns(contract: Contract) -> list[tuple[str, str]]:
    """(name, DuckDB type) of a raw table: tenant_id, the contract's properties in order, load metadata."""
    cols = [] if contract.centre else [("tenant_id", "varchar")]
    cols += [(p.name, SQL_TYPE[p.logical_type]) for p in contract.properties]
    cols += [("_source_file", "varchar"), ("_source_row", "bigint"), ("_batch_id", "varchar"), ("_loaded_at", "timestamp")]
    return cols


def ensure(con: duckdb.DuckDBPyConnection, contracts: dict[str, Contract]) -> None:
    """Create every table ingest writes, if missing."""
    from lethe import tombstones

    tombstones.ensure(con)
    for ddl in META_DDL:
        con.execute(ddl)
    for contract in contracts.values():
        cols = ", ".join(f"{q(n)} {t}" for n, t in raw_columns(contract))
        con.execute(f"create table if not exists raw.{q(contract.dataset)} ({cols})")
