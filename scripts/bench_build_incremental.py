"""Benchmark the incremental build on an ingested and built LETHE_HOME; prints JSON.

1. A full `lethe build` (dbt build of the whole project with --full-refresh, then the risk model), timed.
2. One more day of data: each tenant's latest day of SendGrid events and contact records replayed on the day
   after --as-of with fresh ids (lethe.synth.next_day), written as new landing files; `lethe ingest`.
3. `lethe build --as-of <as_of + 1 day>` (the incremental models fold only the new rows), timed.
With --days N, steps 2-3 repeat for N days in a row and the median day's build is reported (each day listed).

Each build runs in a fresh process, as the CLI does. The run modifies the home and the landing zone: point
--home and --landing at copies.

    python scripts/bench_build_incremental.py --home H --landing L --tenants T --as-of 2026-11-01T00:00:00Z
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

COUNTED = ("email_events", "contact_records")


def _settings(home: str, landing: str | None, tenants: str | None, as_of: str, secret: str):
    from lethe.settings import load_settings

    env = {"LETHE_HOME": home, "LETHE_AS_OF": as_of, "LETHE_SECRET_KEY": secret}
    if landing:
        env["LETHE_LANDING"] = landing
    if tenants:
        env["LETHE_TENANTS"] = tenants
    return load_settings(env)


NODE_KINDS = {"model": "models", "test": "data_tests", "unit_test": "unit_tests"}


def _slowest_nodes(results: list[dict], top: int = 12) -> dict[str, float]:
    """The dbt nodes (models and tests) that took longest in the build (run_results.json's results)."""
    ranked = sorted(results, key=lambda r: r["execution_time"], reverse=True)[:top]
    return {r["unique_id"].split(".", 2)[-1]: round(r["execution_time"], 1) for r in ranked}


def _time_by_kind(results: list[dict]) -> dict[str, float]:
    """Seconds the build's nodes took, summed per kind (model, data test, unit test): with 2 threads the sums
    exceed the wall time, but their proportions say where the work went."""
    kinds: dict[str, float] = {}
    for r in results:
        kind = NODE_KINDS.get(r["unique_id"].split(".")[0], "other")
        kinds[kind] = kinds.get(kind, 0.0) + r["execution_time"]
    return {k: round(v, 1) for k, v in sorted(kinds.items())}


def _measure(args: argparse.Namespace) -> dict:
    """One build in this process (called in a child): wall time, peak memory, dbt's counts, where it went."""
    from lethe.pipeline import build_all

    settings = _settings(args.home, args.landing, args.tenants, args.as_of, args.secret)
    start = time.perf_counter()
    result = build_all(settings, full_refresh=args.phase == "full")
    nodes = json.loads((result.dbt.target_dir / "run_results.json").read_text())["results"]
    return {
        "wall_s": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "dbt": result.dbt.render(),
        "dbt_wall_s": round(result.dbt.elapsed, 2),
        "risk": result.risk.render().splitlines()[0],
        "slowest_nodes_s": _slowest_nodes(nodes),
        "node_seconds_by_kind": _time_by_kind(nodes),
    }


def _child(args: argparse.Namespace, phase: str, as_of: str) -> dict:
    cmd = [sys.executable, __file__, "--phase", phase, "--home", args.home, "--as-of", as_of, "--secret", args.secret]
    if args.landing:
        cmd += ["--landing", args.landing]
    if args.tenants:
        cmd += ["--tenants", args.tenants]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench_build_incremental: {phase} build failed:\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "process_wall_s": round(time.perf_counter() - start, 2)}


def _raw_counts(warehouse: Path) -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in COUNTED}  # noqa: S608
    finally:
        con.close()


def _ingest(args: argparse.Namespace, as_of: str) -> float:
    from lethe.ingest import run_ingest

    settings = _settings(args.home, args.landing, args.tenants, as_of, args.secret)
    start = time.perf_counter()
    run_ingest(settings, landing=settings.landing)
    return round(time.perf_counter() - start, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="LETHE_HOME (generated, ingested, built): it is modified")
    parser.add_argument("--landing", help="LETHE_LANDING (default $home/landing): a day of files is added to it")
    parser.add_argument("--tenants", help="tenant policy file (the generator writes one next to the landing zone)")
    parser.add_argument("--as-of", default="2026-11-01T00:00:00Z", help="the instant the home was built at")
    parser.add_argument("--secret", default="bench-secret", help="LETHE_SECRET_KEY used when the home was built")
    parser.add_argument("--days", type=int, default=1,
                        help="add and build this many days one after another; the median day is reported")
    parser.add_argument("--phase", choices=["full", "incremental"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(_measure(args)))
        return 0

    from lethe.synth.next_day import write_next_day

    settings = _settings(args.home, args.landing, args.tenants, args.as_of, args.secret)
    full = _child(args, "full", args.as_of)
    runs = []
    for day in range(args.days):  # day after day: one more day of data, ingested, then the incremental build
        as_of = settings.as_of + timedelta(days=day)
        next_as_of = (as_of + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        before = _raw_counts(settings.warehouse)
        drop = write_next_day(settings.landing, as_of.date())
        ingest_s = _ingest(args, next_as_of)
        after = _raw_counts(settings.warehouse)
        incremental = _child(args, "incremental", next_as_of)
        runs.append({"as_of": next_as_of, "wall_s": incremental["wall_s"],
                     "share": round(incremental["wall_s"] / max(full["wall_s"], 1e-3), 3),
                     "dbt": incremental["dbt"], "ingest_wall_s": ingest_s, "build": incremental, "drop": drop,
                     "rows_added": {t: after[t] - before[t] for t in COUNTED}, "rows_before": before})
    # the median day stands for the incremental build (its details below); with --days 1 it is the one day
    median = sorted(runs, key=lambda r: r["wall_s"])[(len(runs) - 1) // 2]
    incremental, drop, ingest_s = median["build"], median["drop"], median["ingest_wall_s"]
    added, before = median["rows_added"], median["rows_before"]
    days = [{k: r[k] for k in ("as_of", "wall_s", "share", "dbt", "ingest_wall_s")} for r in runs]
    report = {
        "home": args.home,
        "as_of": args.as_of,
        "incremental_as_of": median["as_of"],
        "full_build_wall_s": full["wall_s"],
        "incremental_build_wall_s": median["wall_s"],
        "share": median["share"],
        "goal_met": median["wall_s"] <= 0.15 * full["wall_s"],
        "incremental_days": days if len(days) > 1 else None,
        "rows_added": added,
        "rows_before": before,
        "next_day": drop.day.isoformat(),
        "next_day_files": len(drop.files),
        "next_day_ingest_wall_s": ingest_s,
        "full_build_peak_rss_mb": full["peak_rss_mb"],
        "incremental_build_peak_rss_mb": incremental["peak_rss_mb"],
        "full_build_dbt": full["dbt"],
        "incremental_build_dbt": incremental["dbt"],
        "full_build_dbt_wall_s": full["dbt_wall_s"],
        "incremental_build_dbt_wall_s": incremental["dbt_wall_s"],
        "full_build_risk": full["risk"],
        "incremental_build_risk": incremental["risk"],
        "full_build_slowest_nodes_s": full["slowest_nodes_s"],
        "incremental_build_slowest_nodes_s": incremental["slowest_nodes_s"],
        "full_build_node_seconds_by_kind": full["node_seconds_by_kind"],
        "incremental_build_node_seconds_by_kind": incremental["node_seconds_by_kind"],
        "measured_with": f"builds in fresh processes at {datetime.now().astimezone().isoformat(timespec='seconds')}",
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
