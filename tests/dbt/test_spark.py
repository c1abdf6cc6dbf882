"""Portability: the whole dbt project builds on Spark (dbt-spark, method: session) from the same raw layer."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import SECRET
from rawlayer import datasets, write_raw
from test_build import SCENARIO

from lethe.build import run_build, write_policy
from lethe.settings import load_settings

pytestmark = pytest.mark.slow

# Known, not hidden: on Spark the enforced contracts of several marts (day differences come back
# as INT; consent marts) and two consent/marketing models fail; see the dbt core report.
KNOWN_SPARK_GAPS = "enforced-contract type mismatches and consent/marketing models not yet portable to Spark"


def export_to_parquet(warehouse: Path, out: Path) -> dict[str, Path]:
    """Every raw.* and lethe_meta.* table of the DuckDB warehouse as one parquet file each."""
    out.mkdir(parents=True, exist_ok=True)
    tables = {f"raw.{name}": out / f"raw__{name}.parquet" for name in datasets()}
    for name in ("tenant_policy", "retention_policy", "dsr_fulfilments"):
        tables[f"lethe_meta.{name}"] = out / f"lethe_meta__{name}.parquet"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for table, path in tables.items():
            con.execute(f"copy (select * from {table}) to '{path}' (format parquet)")
    finally:
        con.close()
    return tables


@pytest.mark.xfail(reason=KNOWN_SPARK_GAPS, strict=False)
def test_whole_project_builds_on_spark(tmp_path: Path) -> None:
    pyspark = pytest.importorskip("pyspark.sql")
    home = tmp_path / "home"
    settings = load_settings({"LETHE_HOME": str(home), "LETHE_SECRET_KEY": SECRET, "LETHE_AS_OF": "2026-06-01T00:00:00"})
    write_raw(settings.warehouse, SCENARIO)
    write_policy(settings)
    tables = export_to_parquet(settings.warehouse, tmp_path / "parquet")

    spark = (
        pyspark.SparkSession.builder.master("local[1]")
        .config("spark.sql.warehouse.dir", str(home / "spark-warehouse"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        for schema in ("raw", "lethe_meta"):
            spark.sql(f"create database if not exists {schema}")
        for table, path in tables.items():
            spark.sql(f"create table {table} using parquet location '{path}'")
        result = run_build(settings, target="spark")
        assert result.models_failed == 0 and result.tests_failed == 0
        due = {r["record_id"] for r in spark.sql("select record_id from lethe.retention_due").collect()}
        assert "c-rita-91" in due and "c-holly" not in due
        for path in home.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path
    finally:
        spark.stop()
