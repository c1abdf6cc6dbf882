"""Row counts and order-independent checksums of every raw and mart table, to compare two warehouses."""

from __future__ import annotations

from pathlib import Path

import duckdb

SCHEMAS = ("raw", "marts")
# Load metadata and wall-clock stamps: when a row was loaded or built, not what it says.
VOLATILE = {"_batch_id", "_loaded_at", "loaded_at", "scored_at", "built_at", "trained_at", "published_at"}


def table_state(warehouse: Path, schemas: tuple[str, ...] = SCHEMAS) -> dict[str, tuple[int, int]]:
    """`schema.table` -> (row count, checksum over every non-volatile column) for base tables."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_schema in (select unnest(?::varchar[])) order by 1, 2",
            [list(schemas)],
        ).fetchall()
        state: dict[str, tuple[int, int]] = {}
        for schema, table in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                    "order by ordinal_position",
                    [schema, table],
                ).fetchall()
                if r[0] not in VOLATILE
            ]
            select = ", ".join(f'"{c}"' for c in cols)
            count, checksum = con.execute(
                f'select count(*), coalesce(sum(hash(row({select})))::hugeint, 0) from "{schema}"."{table}"'
            ).fetchone()
            state[f"{schema}.{table}"] = (int(count), int(checksum))
        return state
    finally:
        con.close()


def differences(left: dict[str, tuple[int, int]], right: dict[str, tuple[int, int]]) -> dict[str, object]:
    """Tables missing on one side or with different counts/checksums."""
    out: dict[str, object] = {}
    for name in sorted(set(left) | set(right)):
        if left.get(name) != right.get(name):
            out[name] = (left.get(name), right.get(name))
    return out
