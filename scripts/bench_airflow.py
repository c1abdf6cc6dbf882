"""Orchestration overhead: the three DAGs through Airflow against `lethe run` on the same data; prints JSON.

Two fresh Lethe homes, each with its own copy of the landing zone (a purge rewrites landing files):
  cli   `lethe run --as-of AS_OF`                                   (ingest, build, purge, publish)
  dags  `airflow dags test` lethe_ingest, lethe_transform, lethe_enforce at AS_OF on a migrated
        SQLite metadata DB (the pool created, the DAGs serialised: that set-up is timed apart)
Both use the same secret key and tenant policy. The overhead is dags_total / cli. Wall time only;
peak memory of a DAG run is the `airflow` process tree's, reported by /usr/bin/time.

    python scripts/bench_airflow.py --landing L --tenants L/tenants.yml --work W --as-of 2026-11-01T00:00:00Z
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
DAG_IDS = ("lethe_ingest", "lethe_transform", "lethe_enforce")


def _timed(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, int]:
    start = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, stdout=fh, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        raise SystemExit(f"bench_airflow: {' '.join(cmd)} exited {proc.returncode}; see {log}:\n" + "\n".join(tail))
    rss_kb = int(log.read_text(errors="replace").strip().splitlines()[-1])
    return round(wall, 2), rss_kb // 1024


def _home(work: Path, name: str, landing: Path) -> Path:
    home = work / name
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    shutil.copytree(landing, home / "landing")
    return home


def main(argv: list[str] | None = None) -> int:
    from lethe.orchestration.airflow_home import airflow_env, prepare

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--tenants", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--as-of", default="2026-11-01T00:00:00Z")
    parser.add_argument("--secret", default="bench-secret")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    logical_date = args.as_of.replace("Z", "+00:00")

    def lethe_env(home: Path) -> dict[str, str]:
        return {**os.environ, "LETHE_HOME": str(home), "LETHE_LANDING": str(home / "landing"),
                "LETHE_TENANTS": str(args.tenants), "LETHE_SECRET_KEY": args.secret, "LETHE_AS_OF": args.as_of,
                "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}

    cli = _home(args.work, "cli", args.landing)
    cli_s, cli_mb = _timed([str(BIN / "lethe"), "run", "--as-of", args.as_of], lethe_env(cli), cli / "run.log")

    dags = _home(args.work, "dags", args.landing)
    start = time.perf_counter()
    airflow_home = args.work / "airflow"
    if airflow_home.exists():
        shutil.rmtree(airflow_home)
    home = prepare(airflow_home, lethe_env(dags), lethe_home=dags)
    setup_s = round(time.perf_counter() - start, 2)
    env = airflow_env(airflow_home, home.env, lethe_home=dags)
    per_dag: dict[str, float] = {}
    peak: dict[str, int] = {}
    for dag_id in DAG_IDS:
        per_dag[dag_id], peak[dag_id] = _timed([str(BIN / "airflow"), "dags", "test", dag_id, logical_date], env,
                                               dags / f"{dag_id}.log")
    total = round(sum(per_dag.values()), 2)
    purged = {}
    for name, home_dir in (("cli", cli), ("dags", dags)):
        import duckdb

        con = duckdb.connect(str(home_dir / "warehouse.duckdb"), read_only=True)
        try:
            purged[name] = con.execute("select coalesce(sum(rows), 0) from lethe_meta.purge_counts").fetchone()[0]
        finally:
            con.close()
    print(json.dumps({
        "lethe_run_wall_s": cli_s, "lethe_run_peak_rss_mb": cli_mb,
        "airflow_setup_s": setup_s, "dag_wall_s": per_dag, "dag_peak_rss_mb": peak, "dags_total_wall_s": total,
        "ratio_dags_to_lethe_run": round(total / cli_s, 2), "goal_met": total / cli_s <= 1.2,
        "rows_purged": purged,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
