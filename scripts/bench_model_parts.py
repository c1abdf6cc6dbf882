"""Where a dbt model's time goes, in isolation, on a built LETHE_HOME; prints JSON.

For each model named, its compiled SQL (the home's dbt/target/compiled, as the last `lethe build` left it) is run in
one DuckDB connection on the home's warehouse:
  - select_to_temp_s: the SELECT into a temp table (computing it, in memory);
  - select_to_disk_s: the SELECT as a table in the warehouse file, then a checkpoint (computing and writing it);
  - temp_to_disk_s: the temp table written to the warehouse file, then a checkpoint (writing it alone).
For a model materialized `diff_table` (--diff-tables), also what applying its difference costs when nothing changed:
  - merge_inline_s: the MERGE of the SELECT into the model's table, as macros/diff_table.sql runs it;
  - merge_from_temp_s: the same MERGE from the temp table (after select_to_temp_s);
  - changed_keys_join_s: a full outer join of the temp table and the model's table finding the changed keys.
MERGEs run in a transaction that is rolled back; scratch tables are dropped. Point --home at a copy all the same.

    python scripts/bench_model_parts.py --home H --secret bench-secret \\
        --models int_engagement_events fct_retention_status --diff-tables fct_retention_status
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb

RESTAMPED = {"days_past_due", "as_of"}  # left out of a diff_table's comparison (its `restamp` config)


def _compiled(home: Path, model: str) -> str:
    root = home / "dbt" / "target" / "compiled"
    found = [p for p in root.rglob(f"{model}.sql") if not p.parent.name.endswith(".yml")]
    if not found:
        raise SystemExit(f"bench_model_parts: no compiled SQL of {model} under {root}: run `lethe build` first")
    return found[0].read_text()


def _timed(con: duckdb.DuckDBPyConnection, *statements: str) -> float:
    start = time.perf_counter()
    for sql in statements:
        con.execute(sql)
    return round(time.perf_counter() - start, 2)


def _relation(con: duckdb.DuckDBPyConnection, model: str) -> str:
    rows = con.execute("select table_schema from information_schema.tables where table_name = ?", [model]).fetchall()
    if len(rows) != 1:
        raise SystemExit(f"bench_model_parts: {model}: expected one table of that name, found {len(rows)}")
    return f"{rows[0][0]}.{model}"


def _diff_parts(con: duckdb.DuckDBPyConnection, model: str, sql: str, keys: list[str]) -> dict[str, float]:
    table = _relation(con, model)
    columns = [r[0] for r in con.execute(f"describe {table}").fetchall()]
    compared = [c for c in columns if c not in keys and c not in RESTAMPED]
    merge = (
        f"merge into {table} as held using ({{source}}) as wanted on "  # noqa: S608 (names from the catalog)
        + " and ".join(f"held.{k} is not distinct from wanted.{k}" for k in keys)
        + " when matched and (" + " or ".join(f"held.{c} is distinct from wanted.{c}" for c in compared)
        + ") then update set " + ", ".join(f"{c} = wanted.{c}" for c in compared)
        + f" when not matched by target then insert ({', '.join(columns)}) values ("  # noqa: S608
        + ", ".join(f"wanted.{c}" for c in columns) + ") when not matched by source then delete"
    )

    def rolled_back(statement: str) -> float:
        con.execute("begin")
        try:
            return _timed(con, statement)
        finally:
            con.execute("rollback")

    on = " and ".join(f"held.{k} = w.{k}" for k in keys)
    changed = (
        f"select count(*) from _bench_wanted w full outer join {table} held on {on} "  # noqa: S608
        f"where held.{keys[0]} is null or w.{keys[0]} is null or hash({', '.join('w.' + c for c in compared)}) "
        f"<> hash({', '.join('held.' + c for c in compared)})"
    )
    return {
        "merge_inline_s": rolled_back(merge.format(source=sql)),
        "merge_from_temp_s": rolled_back(merge.format(source="select * from _bench_wanted")),
        "changed_keys_join_s": _timed(con, changed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a built LETHE_HOME (a copy: scratch tables go in it)")
    parser.add_argument("--secret", default="bench-secret", help="LETHE_SECRET_KEY the home was built with")
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--diff-tables", nargs="*", default=[],
                        help="models (among --models) materialized diff_table, as MODEL or MODEL:key1,key2 "
                             "(default key: tenant_id,source_table,record_id)")
    args = parser.parse_args()
    keys = {}
    for spec in args.diff_tables:
        name, _, cols = spec.partition(":")
        keys[name] = cols.split(",") if cols else ["tenant_id", "source_table", "record_id"]
    con = duckdb.connect(str(args.home / "warehouse.duckdb"))
    con.execute("set variable lethe_key = ?", [args.secret])  # as lethe.dbt_plugin sets it for dbt
    report: dict[str, dict] = {}
    for model in args.models:
        sql = _compiled(args.home, model)
        parts: dict = {"select_to_temp_s": _timed(con, f"create or replace temp table _bench_wanted as {sql}")}
        parts["rows"] = con.execute("select count(*) from _bench_wanted").fetchone()[0]
        parts["select_to_disk_s"] = _timed(con, f"create or replace table main._bench_disk as {sql}", "checkpoint")
        con.execute("drop table main._bench_disk")
        parts["temp_to_disk_s"] = _timed(con, "create or replace table main._bench_disk as select * from _bench_wanted",
                                         "checkpoint")
        con.execute("drop table main._bench_disk")
        con.execute("checkpoint")
        if model in keys:
            parts.update(_diff_parts(con, model, sql, keys[model]))
        con.execute("drop table _bench_wanted")
        report[model] = parts
        print(f"{model}: {parts}", file=sys.stderr, flush=True)
    con.close()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
