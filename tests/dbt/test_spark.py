"""Portability: the whole dbt project (every model, data test and unit test) builds on Spark
(dbt-spark, method: session) from a generated and ingested raw layer, and agrees with DuckDB."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rawlayer import AS_OF, SECRET

from lethe.build import run_build
from lethe.ingest import run_ingest
from lethe.settings import Settings, load_settings
from lethe.synth import generate

sys.path.insert(0, str(Path(__file__).parents[2] / "scripts"))
from bench_spark import export_raw, register, spark_session  # noqa: E402

pytestmark = pytest.mark.slow

SUBJECTS = 60
DAYS = 365
DUE_COLUMNS = "tenant_id, data_category, reason, action, source_table, record_id, due_at, days_past_due"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A generated landing zone (60 subjects, one year) ingested into a DuckDB home, built on DuckDB."""
    work = tmp_path_factory.mktemp("spark")
    landing = work / "landing"
    generate(landing, tenants=3, subjects=SUBJECTS, days=DAYS, seed=11, end=AS_OF)
    settings = load_settings(
        {"LETHE_HOME": str(work / "home"), "LETHE_SECRET_KEY": SECRET, "LETHE_AS_OF": AS_OF,
         "LETHE_TENANTS": str(landing / "tenants.yml")}
    )
    run_ingest(settings, landing)
    run_build(settings, target="duckdb")
    return settings


def _norm(value: Any) -> Any:
    """One value as both engines agree to print it (timestamps to the second, floats to 6 places)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value


def _duck(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _rows(rows: list) -> set[tuple]:
    return {tuple(_norm(v) for v in row) for row in rows}


@pytest.fixture(scope="module")
def on_both(ingested: Settings) -> dict[str, Any]:
    """Build on Spark from the exported raw layer; collect what the tests compare, then stop Spark."""
    tables = export_raw(ingested.warehouse, ingested.home / "parquet")
    spark = spark_session(ingested.home)
    try:
        register(spark, tables)
        result = run_build(ingested, target="spark")
        marts = [r.tableName for r in spark.sql("show tables in marts").collect() if not r.isTemporary]
        return {
            "result": result,
            "raw_rows": {t: spark.sql(f"select count(*) from {t}").collect()[0][0] for t in tables},
            "counts": {m: spark.sql(f"select count(*) from marts.{m}").collect()[0][0] for m in marts},
            "queries": {sql: _rows([tuple(r) for r in spark.sql(sql).collect()]) for sql in COMPARED},
        }
    finally:
        spark.stop()


DUE_SQL = f"select {DUE_COLUMNS} from marts.retention_due"  # noqa: S608
AUDIENCE_SQL = "select tenant_id, purpose_name, channel, address from marts.audience_eligible"
KEY_SQLS = (
    "select tenant_id, record_id, subject_key from marts.retention_due",
    "select tenant_id, subject_key from marts.dim_subjects",
    "select tenant_id, subject_key, address from marts.audience_eligible",
)
COMPARED = (DUE_SQL, AUDIENCE_SQL, *KEY_SQLS)


def test_every_model_data_test_and_unit_test_passes_on_spark(on_both: dict[str, Any]) -> None:
    result = on_both["result"]
    assert (result.models_failed, result.tests_failed, result.models_skipped, result.tests_skipped) == (0, 0, 0, 0)
    assert result.models_passed >= 45 and result.tests_passed >= 100, result.render()
    assert on_both["raw_rows"]["raw.crm_consents"] > 0 and on_both["raw_rows"]["raw.contact_records"] > 0


def test_every_mart_has_the_same_rows_on_both_engines(ingested: Settings, on_both: dict[str, Any]) -> None:
    duck_marts = {name for (name,) in _duck(ingested, "select table_name from duckdb_tables() where schema_name = 'marts'")}
    assert set(on_both["counts"]) >= duck_marts - {"withdrawal_risk_scores", "withdrawal_risk_evaluation"}
    for mart, spark_n in on_both["counts"].items():
        duck_n = _duck(ingested, f"select count(*) from marts.{mart}")[0][0]  # noqa: S608
        assert spark_n == duck_n, f"marts.{mart}: {spark_n} rows on Spark, {duck_n} on DuckDB"
    # the purge's input and the audience export agree value for value (keys aside, see below)
    for sql in (DUE_SQL, AUDIENCE_SQL):
        assert on_both["queries"][sql] and on_both["queries"][sql] == _rows(_duck(ingested, sql)), sql


def test_subject_keys_are_identical_on_both_engines(ingested: Settings, on_both: dict[str, Any]) -> None:
    for sql in KEY_SQLS:
        assert on_both["queries"][sql] == _rows(_duck(ingested, sql)), sql


def test_the_key_is_nowhere_on_disk(ingested: Settings, on_both: dict[str, Any]) -> None:
    assert on_both["result"].models_passed
    for path in ingested.home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
