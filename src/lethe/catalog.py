"""Catalogue helpers (does a table exist, its columns, the raw tables present) shared by ingest, purge, DSR and audiences."""

from __future__ import annotations

import duckdb


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether schema.table exists (table or view) in the current database."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_catalog = current_database() "
        "and table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


# the addresses CRM contacts held before (lethe.ingest.schema): personal data the purge deletes with the contact
PREVIOUS_ADDRESSES = "lethe_meta.crm_contact_previous_addresses"

# The subject key each CRM Individual was first given (keyed hash of its smallest Contact Id then), kept so that a
# person's key stays the same when that contact is retired or a contact with a smaller Id joins them. The identity
# model writes it (a DuckDB post-hook) and drops the rows of Individuals no contact names any more; lethe.build
# creates it empty. Pseudonymous: Individual Ids and subject keys only.
SUBJECT_KEYS = "lethe_meta.subject_keys"
SUBJECT_KEYS_DDL = """create table if not exists lethe_meta.subject_keys (
    tenant_id varchar not null, individual_id varchar not null, subject_key varchar not null,
    kept_since timestamp not null, primary key (tenant_id, individual_id))"""


def raw_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the raw tables present, plus 'quarantine.rows', PREVIOUS_ADDRESSES and SUBJECT_KEYS when they
    exist."""
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables where table_catalog = current_database() "
        "and (table_schema = 'raw' or (table_schema = 'quarantine' and table_name = 'rows') "
        "or (table_schema = 'lethe_meta' and table_name in ('crm_contact_previous_addresses', 'subject_keys')))"
    ).fetchall()
    return {name if schema == "raw" else f"{schema}.{name}" for schema, name in rows}


def columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """Column names of schema.table in order (empty if it does not exist)."""
    rows = con.execute(
        "select column_name from information_schema.columns where table_catalog = current_database() "
        "and table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]
