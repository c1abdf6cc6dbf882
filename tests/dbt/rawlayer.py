"""Hand-built raw layers for dbt tests: every raw.* table with the INTERFACES columns, filled with named rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import yaml

from lethe.settings import CONTRACTS_DIR

# The key and instant every dbt test builds with.
SECRET = "dbt-test-secret-4c1f9e7a2b"
AS_OF = "2026-06-01T00:00:00"

DUCKDB_TYPES = {
    "string": "varchar",
    "timestamp": "timestamp",
    "date": "date",
    "integer": "bigint",
    "boolean": "boolean",
    "array": "varchar[]",
}
METADATA = [("_source_file", "varchar"), ("_source_row", "bigint"), ("_batch_id", "varchar"), ("_loaded_at", "timestamp")]


def contract_columns(dataset: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of raw.<dataset>: contract properties, tenant_id, load metadata."""
    doc = yaml.safe_load((CONTRACTS_DIR / f"{dataset}.odcs.yaml").read_text())
    props = [(p["name"], DUCKDB_TYPES[p["logicalType"]]) for p in doc["schema"][0]["properties"]]
    names = {name for name, _ in props}
    tenant = [] if "tenant_id" in names else [("tenant_id", "varchar")]
    custom = {c["property"]: c["value"] for c in doc.get("customProperties") or []}
    since = [(f"_{name}_since", "timestamp") for name in custom.get("trackedSince") or []]
    return tenant + props + since + METADATA


def datasets() -> list[str]:
    """Every dataset with a contract."""
    return sorted(p.name.removesuffix(".odcs.yaml") for p in CONTRACTS_DIR.glob("*.odcs.yaml"))


def write_raw(warehouse: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Create every raw.* table (replacing it) and insert the given rows; missing columns are null."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create schema if not exists raw")
        for dataset in datasets():
            cols = contract_columns(dataset)
            ddl = ", ".join(f'"{name}" {kind}' for name, kind in cols)
            con.execute(f"create or replace table raw.{dataset} ({ddl})")
            records = rows.get(dataset, [])
            if not records:
                continue
            unknown = set().union(*records) - {name for name, _ in cols}
            assert not unknown, f"{dataset}: unknown columns {unknown}"
            values = [
                [
                    record.get(name, default)
                    for name, default in (
                        (name, _default(name, i, dataset)) for name, _ in cols
                    )
                ]
                for i, record in enumerate(records, start=1)
            ]
            marks = ", ".join("?" for _ in cols)
            con.executemany(f"insert into raw.{dataset} values ({marks})", values)
    finally:
        con.close()


def _default(name: str, row: int, dataset: str) -> Any:
    return {
        "_source_file": f"fixture/{dataset}.csv",
        "_source_row": row,
        "_batch_id": "fixture",
        "_loaded_at": datetime(2026, 1, 1),
    }.get(name)
