"""Build the same generated raw layer with dbt on DuckDB and on Spark (dbt-spark, method: session);
print JSON with both wall times and the ratio DuckDB/Spark.

    .venv/bin/python scripts/bench_spark.py [--subjects 200] [--days 730] [--work DIR]
    .venv/bin/python scripts/bench_spark.py --home H --tenants T --secret S --work DIR --driver-memory 8g

The second form reuses an ingested LETHE_HOME (the 200,000-subject one of the build stage) instead of
generating one; its DuckDB build runs in that home, so point --home at a copy.

The raw layer comes from `lethe generate` + `lethe ingest` into DuckDB; for Spark every raw.* and
lethe_meta.* table is exported to parquet and registered as a Spark table (see docs/spark.md).
"""

# ruff: noqa: S608 -- SQL is built from this script's own table names and paths.
from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

log = logging.getLogger(__name__)

AS_OF = "2026-06-01T00:00:00"
META_TABLES = ("tenant_policy", "retention_policy", "dsr_fulfilments", "dsr_processed", "crm_contact_previous_addresses",
               "subject_keys", "tombstones")

# Spark settings the project relies on: UTC session, and DuckDB's naive (UTC) parquet timestamps
# read as Spark TIMESTAMP, the type `as_of()` and the marts' contracts use, not TIMESTAMP_NTZ.
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


def export_raw(warehouse: Path, out: Path) -> dict[str, Path]:
    """Every raw.* table and the lethe_meta policy tables of a DuckDB warehouse as one parquet file each."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema = 'raw' or (table_schema = 'lethe_meta' and table_name in ?) order by 1",
            [list(META_TABLES)],
        ).fetchall()
        tables = {name: out / f"{name.replace('.', '__')}.parquet" for (name,) in names}
        for table, path in tables.items():
            con.execute(f"copy (select * from {table}) to '{path}' (format parquet)")
    finally:
        con.close()
    return tables


def spark_session(home: Path, driver_memory: str = "2g") -> Any:
    """A local Spark session (2 cores) with the settings the project relies on; its warehouse under `home`."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("lethe").config("spark.sql.warehouse.dir", str(home / "spark-warehouse"))
    for key, value in {**SPARK_CONF, "spark.driver.memory": driver_memory}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def register(spark: Any, tables: dict[str, Path]) -> None:
    """Register each exported parquet file as the Spark table of the same name (schema.table)."""
    for schema in sorted({name.split(".")[0] for name in tables}):
        spark.sql(f"create database if not exists {schema}")
    for table, path in tables.items():
        spark.sql(f"drop table if exists {table}")
        spark.sql(f"create table {table} using parquet location '{path}'")


def prepare(work: Path, subjects: int, days: int) -> Any:
    """Generate a landing zone and ingest it into a DuckDB home; return the settings of that home."""
    from lethe.ingest import run_ingest
    from lethe.settings import load_settings
    from lethe.synth import generate

    landing = work / "landing"
    generate(landing, tenants=3, subjects=subjects, days=days, seed=7, end=AS_OF)
    settings = load_settings(
        {"LETHE_HOME": str(work / "home"), "LETHE_SECRET_KEY": "bench-spark", "LETHE_AS_OF": AS_OF,
         "LETHE_TENANTS": str(landing / "tenants.yml")}
    )
    run_ingest(settings, landing)
    return settings


def bench(settings: Any, work: Path, driver_memory: str = "2g") -> dict[str, Any]:
    """Time the dbt build on DuckDB, then on Spark (export and session start timed separately)."""
    from lethe.build import run_build

    start = time.perf_counter()
    duck = run_build(settings, target="duckdb")
    duck_seconds = time.perf_counter() - start

    start = time.perf_counter()
    tables = export_raw(settings.warehouse, work / "parquet")
    export_seconds = time.perf_counter() - start
    start = time.perf_counter()
    spark = spark_session(settings.home, driver_memory)
    register(spark, tables)
    startup_seconds = time.perf_counter() - start
    try:
        start = time.perf_counter()
        sparked = run_build(settings, target="spark")
        spark_seconds = time.perf_counter() - start
        rows = {
            engine: count
            for engine, count in (
                ("duckdb", _duckdb_count(settings.warehouse, "marts.retention_due")),
                ("spark", spark.sql("select count(*) from marts.retention_due").collect()[0][0]),
            )
        }
    finally:
        spark.stop()
    return {
        "duckdb_build_seconds": round(duck_seconds, 2),
        "spark_build_seconds": round(spark_seconds, 2),
        "ratio_duckdb_over_spark": round(duck_seconds / spark_seconds, 4),
        "spark_export_seconds": round(export_seconds, 2),
        "spark_session_start_seconds": round(startup_seconds, 2),
        "models": {"duckdb": duck.models_passed, "spark": sparked.models_passed},
        "tests": {"duckdb": duck.tests_passed, "spark": sparked.tests_passed},
        "retention_due_rows": rows,
    }


def _duckdb_count(warehouse: Path, table: str) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(f"select count(*) from {table}").fetchone()[0]
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    parser.add_argument("--home", type=Path, help="an ingested LETHE_HOME to build instead of a generated one")
    parser.add_argument("--tenants", type=Path, help="with --home: its tenant policy file")
    parser.add_argument("--secret", default="bench-secret", help="with --home: the LETHE_SECRET_KEY it was built with")
    parser.add_argument("--as-of", default=AS_OF, help="with --home: LETHE_AS_OF of both builds (its data's as-of)")
    parser.add_argument("--driver-memory", default="2g", help="Spark driver memory (local mode: all of Spark's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp:
        work = args.work or Path(tmp)
        start = time.perf_counter()
        if args.home:
            from lethe.settings import load_settings

            env = {"LETHE_HOME": str(args.home), "LETHE_SECRET_KEY": args.secret, "LETHE_AS_OF": args.as_of}
            if args.tenants:
                env["LETHE_TENANTS"] = str(args.tenants)
            settings = load_settings(env)
            result: dict[str, Any] = {"home": str(args.home), "as_of": args.as_of}
        else:
            settings = prepare(work, args.subjects, args.days)
            result = {"subjects": args.subjects, "days": args.days}
        result["prepare_seconds"] = round(time.perf_counter() - start, 2)
        result["driver_memory"] = args.driver_memory
        result.update(bench(settings, work, args.driver_memory))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
