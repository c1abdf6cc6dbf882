"""The one place that opens the DuckDB warehouse (the pipeline is its only writer)."""

from __future__ import annotations

import duckdb

from lethe.settings import Settings

SCHEMAS = ("raw", "quarantine", "lethe_meta")


def connect(settings: Settings, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, create the base schemas, and set the session's keyed-hash key."""
    settings.home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse), read_only=read_only)
    if not read_only:
        for schema in SCHEMAS:
            con.execute(f"create schema if not exists {schema}")
    con.execute("set variable lethe_key = ?", [settings.secret_key.decode()])
    return con
