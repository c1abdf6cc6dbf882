"""The floor for `lethe build`: the SQL dbt compiled, run directly in one DuckDB connection.

Reads the manifest and run_results of the last build under $LETHE_HOME/dbt/target and executes,
in the order dbt ran them, every model's compiled SELECT as `create or replace table|view` and
every data test's compiled query; prints JSON with the wall time.
"""

# ruff: noqa: S608 -- SQL comes from dbt's own compiled artifacts.
from __future__ import annotations

import json
import sys
import time

from lethe.build import dbt_target_dir
from lethe.settings import get_settings
from lethe.warehouse import connect


def main() -> int:
    settings = get_settings()
    target = dbt_target_dir(settings)
    manifest = json.loads((target / "manifest.json").read_text())
    results = json.loads((target / "run_results.json").read_text())["results"]
    nodes = manifest["nodes"]
    con = connect(settings)
    models = tests = 0
    start = time.perf_counter()
    for result in results:
        node = nodes.get(result["unique_id"])
        if node is None or result["status"] not in ("success", "pass"):
            continue
        sql = result.get("compiled_code") or node.get("compiled_code")
        if not sql:
            continue
        if node["resource_type"] == "model":
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            if node["config"]["materialized"] == "ephemeral":
                continue
            con.execute(f'create schema if not exists "{node["schema"]}"')
            con.execute(f'create or replace {kind} "{node["schema"]}"."{node["alias"]}" as {sql}')
            models += 1
        elif node["resource_type"] == "test":
            con.execute(f"select count(*) from ({sql}) as t").fetchone()
            tests += 1
    elapsed = time.perf_counter() - start
    con.close()
    print(json.dumps({"direct_sql_wall_s": round(elapsed, 2), "direct_models": models, "direct_data_tests": tests}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
