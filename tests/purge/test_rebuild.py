"""After a purge only the dbt models downstream of the raw tables that lost rows are rebuilt, with --full-refresh,
and withdrawal risk is re-scored only when its features were among them."""

from __future__ import annotations

import json

import duckdb
import pytest

import lethe.build
import lethe.risk
from lethe.purge import run_purge
from lethe.settings import Settings

MANIFEST = {
    "metadata": {"project_name": "lethe"},
    "child_map": {
        "source.lethe.raw.crm_contacts": ["model.lethe.stg_salesforce__contacts"],
        "source.lethe.raw.email_events": ["model.lethe.stg_sendgrid__email_events"],
        "source.lethe.raw.campaigns": ["model.lethe.stg_campaigns__campaigns"],
        "model.lethe.stg_salesforce__contacts": ["model.lethe.withdrawal_risk_features", "test.lethe.not_null_x"],
        "model.lethe.stg_sendgrid__email_events": [],
        "model.lethe.stg_campaigns__campaigns": [],
        "model.lethe.withdrawal_risk_features": [],
        "test.lethe.not_null_x": [],
    },
    "nodes": {
        f"model.lethe.{name}": {"name": name, "schema": schema, "config": {"materialized": kind}}
        for name, schema, kind in [
            ("stg_salesforce__contacts", "staging", "view"),
            ("stg_sendgrid__email_events", "staging", "view"),
            ("stg_campaigns__campaigns", "staging", "view"),
            ("withdrawal_risk_features", "marts", "table"),
        ]
    },
}


@pytest.fixture
def built(scenario: Settings, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, list]:
    target = lethe.build.dbt_target_dir(scenario)
    target.mkdir(parents=True, exist_ok=True)
    (target / "manifest.json").write_text(json.dumps(MANIFEST))
    calls: list = []

    def fake_build(settings: Settings, select: str | None = None, **kwargs: object) -> None:
        calls.append(("dbt", select, kwargs))
        con = duckdb.connect(str(settings.warehouse))  # what the real rebuild does to the due mart
        con.execute("delete from marts.retention_due")
        con.close()

    monkeypatch.setattr(lethe.build, "run_build", fake_build)
    monkeypatch.setattr(lethe.risk, "train_and_score", lambda settings, **kw: calls.append(("risk", kw)))
    return scenario, calls


def test_rebuild_selects_the_purged_sources_downstream_with_full_refresh(built: tuple[Settings, list]) -> None:
    settings, calls = built
    result = run_purge(settings, dry_run=False)
    assert result.derived == "rebuilt"
    (dbt, select, kwargs), risk = calls
    selected = set(select.split())
    assert {"source:raw.crm_contacts+", "source:raw.email_events+", "source:raw.contact_records+"} <= selected
    assert "source:raw.campaigns+" not in selected and "source:raw.crm_purposes+" not in selected
    assert kwargs == {"full_refresh": True, "unit_tests": False}  # the data changed, not the code
    # withdrawal_risk_features is downstream of crm_contacts: risk is re-scored, with the stored fit
    assert risk == ("risk", {"keep_fit": True})


def test_a_run_that_changes_no_raw_table_rebuilds_nothing(built: tuple[Settings, list]) -> None:
    settings, calls = built
    run_purge(settings, dry_run=False)
    calls.clear()
    again = run_purge(settings, dry_run=False)
    assert calls == [] and again.derived in ("unchanged", None)


def test_the_compaction_leaves_out_a_rebuilt_models_bookkeeping_tables(built: tuple[Settings, list]) -> None:
    """An incremental model's hooks keep tables beside it (its config's meta names them): a purge that rebuilds
    the model leaves them out of the compacted file, as it leaves out the model's own table, for the rebuild's
    --full-refresh to write anew from what survived (they may hold the purged addresses). Others stay."""
    settings, _ = built
    target = lethe.build.dbt_target_dir(settings)
    manifest = json.loads((target / "manifest.json").read_text())
    node = manifest["nodes"]["model.lethe.withdrawal_risk_features"]  # downstream of the purged crm_contacts
    node["config"]["meta"] = {"bookkeeping_tables": ["intermediate.kept_beside_features"]}
    (target / "manifest.json").write_text(json.dumps(manifest))
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("create schema if not exists intermediate")
        con.execute("create table intermediate.kept_beside_features as select 'someone@example.com' as address")
        con.execute("create table intermediate.kept_for_nobody as select 1 as n")
    finally:
        con.close()
    assert run_purge(settings, dry_run=False).derived == "rebuilt"
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        left = con.execute("select table_name from duckdb_tables() where schema_name = 'intermediate' order by 1").fetchall()
    finally:
        con.close()
    assert left == [("kept_for_nobody",)]
