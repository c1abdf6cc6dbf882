"""Compact the warehouse after a purge: DuckDB keeps freed blocks, so copy the live data to a new file and swap it in."""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from pathlib import Path

import duckdb

from lethe.fsutil import fsync_path, sql_path

log = logging.getLogger(__name__)


def compact(warehouse: Path, leave_out: Collection[tuple[str, str]] = ()) -> tuple[int, int]:
    """Checkpoint, copy every schema and table to a fresh file, atomically replace the old one, drop the WAL.

    Tables in `leave_out` ((schema, name) pairs: derived tables the caller rebuilds right after) are not
    copied, so their old bytes go with the old file without being copied first. The caller must have closed
    its connections. Returns (bytes before, bytes after).
    """
    tmp = warehouse.with_name(warehouse.name + ".compact")
    tmp.unlink(missing_ok=True)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    before = warehouse.stat().st_size
    skip = {(s.lower(), t.lower()) for s, t in leave_out}
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach '{sql_path(warehouse)}' as old (read_only)")
        con.execute(f"attach '{sql_path(tmp)}' as fresh")
        con.execute("copy from database old to fresh (schema)")  # then the data, table by table (what a full copy does)
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'old' order by all"
        ).fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            if (schema.lower(), table.lower()) in skip:
                con.execute(f"drop table fresh.{name}")
            else:
                con.execute(f"insert into fresh.{name} select * from old.{name}")  # noqa: S608
        con.execute("detach old")
        con.execute("checkpoint fresh")
        con.execute("detach fresh")
    finally:
        con.close()
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, warehouse)
    Path(str(warehouse) + ".wal").unlink(missing_ok=True)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)
    fsync_path(warehouse.parent)
    after = warehouse.stat().st_size
    log.info("compacted %s: %d -> %d bytes (%d derived tables left to the rebuild)", warehouse, before, after, len(skip))
    return before, after
