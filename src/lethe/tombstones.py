"""Erasure tombstones: keyed hashes of erased identities, so nobody erased comes back on re-ingest."""

from __future__ import annotations

import duckdb

DDL = """
create table if not exists lethe_meta.tombstones (
    tenant_id varchar not null,
    kind varchar not null,            -- contact | email | phone (see lethe.keys)
    identity_hash varchar not null,   -- keyed_hash(kind, value): never the value itself
    erased_at timestamp not null,
    run_id varchar not null,
    primary key (tenant_id, kind, identity_hash)
)
"""


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tombstone table if it does not exist."""
    con.execute("create schema if not exists lethe_meta")
    con.execute(DDL)
