"""Every staging model carries every property of its data contract, with a compatible type."""

from __future__ import annotations

import duckdb
import pytest
import yaml
from rawlayer import DUCKDB_TYPES, datasets, write_raw

from lethe.build import run_build
from lethe.settings import CONTRACTS_DIR, DBT_PROJECT_DIR, Settings

SOURCES = DBT_PROJECT_DIR / "models" / "staging" / "_raw__sources.yml"
# a staging column may widen a contract type, never change its kind
COMPATIBLE = {
    "varchar": {"VARCHAR"},
    "timestamp": {"TIMESTAMP"},
    "date": {"DATE"},
    "bigint": {"BIGINT", "INTEGER", "HUGEINT"},
    "boolean": {"BOOLEAN"},
    "varchar[]": {"VARCHAR[]"},
}


def staging_models() -> dict[str, str]:
    """Contract dataset -> staging model, from the raw sources' meta."""
    doc = yaml.safe_load(SOURCES.read_text())
    return {t["name"]: t["meta"]["staging_model"] for t in doc["sources"][0]["tables"]}


def test_every_contract_has_a_source_table_and_a_staging_model() -> None:
    models = staging_models()
    assert sorted(models) == datasets()
    for dataset, model in models.items():
        assert list(DBT_PROJECT_DIR.glob(f"models/staging/*/{model}.sql")), f"{dataset}: no staging model {model}"


@pytest.fixture(scope="module")
def staging_columns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Build the staging layer on empty raw tables; the columns and types of every staging view."""
    from lethe.settings import load_settings

    home = tmp_path_factory.mktemp("staging-home")
    settings: Settings = load_settings({"LETHE_HOME": str(home), "LETHE_SECRET_KEY": "k", "LETHE_AS_OF": "2026-06-01"})
    write_raw(settings.warehouse, {})
    run_build(settings, select="path:models/staging")
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns where table_schema = 'staging'"
        ).fetchall()
    finally:
        con.close()
    columns: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        columns.setdefault(table, {})[column] = kind
    return columns


@pytest.mark.parametrize("dataset", datasets())
def test_staging_model_agrees_with_its_contract(dataset: str, staging_columns: dict[str, dict[str, str]]) -> None:
    model = staging_models()[dataset]
    assert model in staging_columns, f"staging view {model} was not built"
    actual = staging_columns[model]
    contract = yaml.safe_load((CONTRACTS_DIR / f"{dataset}.odcs.yaml").read_text())
    assert "tenant_id" in actual
    for prop in contract["schema"][0]["properties"]:
        name, kind = prop["name"], DUCKDB_TYPES[prop["logicalType"]]
        assert name in actual, f"{model} lacks contract property {dataset}.{name}"
        assert actual[name] in COMPATIBLE[kind], f"{model}.{name} is {actual[name]}, contract says {prop['logicalType']}"


def test_every_personal_contract_property_is_marked_pii_in_staging() -> None:
    """A property the contract classifies as pii carries meta.pii and a data_category in the staging YAML."""
    metas: dict[tuple[str, str], dict] = {}
    for path in DBT_PROJECT_DIR.glob("models/staging/*/_*__models.yml"):
        for model in yaml.safe_load(path.read_text())["models"]:
            for column in model.get("columns", []):
                metas[(model["name"], column["name"])] = column.get("meta") or {}
    for dataset, model in staging_models().items():
        contract = yaml.safe_load((CONTRACTS_DIR / f"{dataset}.odcs.yaml").read_text())
        for prop in contract["schema"][0]["properties"]:
            pii = any(c.get("property") == "pii" and c.get("value") for c in prop.get("customProperties") or [])
            if pii:
                meta = metas.get((model, prop["name"]), {})
                assert meta.get("pii") is True and meta.get("data_category"), f"{model}.{prop['name']} lacks pii meta"
