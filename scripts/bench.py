"""`make bench`: measure Lethe at scale and write BENCHMARKS.md from what was measured.

Stages (each writes benchmarks/results/<stage>.json, so a stage can be re-run alone with --only):
  generate   lethe generate --subjects N: wall time, peak RSS, files, bytes
  ingest     scripts/bench_ingest.py: floor (DuckDB readers, no validation) vs lethe ingest
  build      lethe build (dbt) vs the same compiled SQL run directly in one DuckDB connection
  incremental scripts/bench_build_incremental.py: full build vs the build after one more day (on a copy)
  purge      scripts/bench_purge.py: a retention purge and 10,000 erasures vs bare DELETEs
  dashboard  scripts/bench_dashboard.py: page render times on the published snapshot
  spark      scripts/bench_spark.py: the dbt project on DuckDB vs Spark, same raw layer
  airflow    scripts/bench_airflow.py: the three DAGs through Airflow vs `lethe run` on the same data
The report keeps the figures of stages that were not re-run, with the date they were measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BIN = Path(PY).parent
STAGES = ("generate", "ingest", "build", "incremental", "purge", "dashboard", "spark", "airflow")
AS_OF = "2026-11-01T00:00:00Z"
SECRET = "bench-secret"


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )
    mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))) // 1024 // 1024
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, Linux {platform.release()}, Python {platform.python_version()}"


def last_json(text: str) -> dict:
    """The JSON object a bench script printed last."""
    start = text.rfind("\n{")
    return json.loads(text[start + 1 if start >= 0 else text.find("{"):])


def env_for(home: Path, landing: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LETHE_HOME": str(home),
        "LETHE_LANDING": str(landing),
        "LETHE_TENANTS": str(landing / "tenants.yml"),
        "LETHE_SECRET_KEY": SECRET,
        "LETHE_AS_OF": AS_OF,
    }


def stage_generate(args, work: Path) -> dict:
    landing = work / "landing"
    if landing.exists():
        shutil.rmtree(landing)
    cmd = ["/usr/bin/time", "-f", "%e %M", str(BIN / "lethe"), "generate", "--out", str(landing),
           "--subjects", str(args.subjects), "--as-of", AS_OF]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall, rss_kb = proc.stderr.strip().splitlines()[-1].split()
    files = [p for p in landing.rglob("*") if p.is_file()]
    return {
        "command": f"lethe generate --out DIR --subjects {args.subjects} --as-of {AS_OF}",
        "wall_s": float(wall), "peak_rss_mb": int(rss_kb) // 1024,
        "files": len(files), "bytes": sum(p.stat().st_size for p in files),
    }


def stage_ingest(args, work: Path) -> dict:
    res = subprocess.run([PY, str(ROOT / "scripts/bench_ingest.py"), "--landing", str(work / "landing"),
                          "--work", str(work / "ingest-scratch")], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"bench: bench_ingest failed:\n{res.stderr[-2000:]}")
    return {"command": "scripts/bench_ingest.py --landing DIR", **last_json(res.stdout)}


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    full = ["/usr/bin/time", "-f", "%e %M", *cmd]
    proc = subprocess.run(full, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    wall, rss_kb = proc.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss_kb) // 1024


def stage_build(args, work: Path) -> dict:
    """A full home (ingest + build) that later stages reuse; dbt vs its compiled SQL run directly."""
    home = work / "home"
    landing = work / "landing-pipeline"
    if args.skip_ingest and (home / "warehouse.duckdb").exists() and landing.exists():
        ingest_s = ingest_mb = None  # the raw layer of an earlier build stage is reused (see the ingest stage)
    else:
        if home.exists():
            shutil.rmtree(home)
        if landing.exists():
            shutil.rmtree(landing)
        shutil.copytree(work / "landing", landing)  # the purge rewrites landing files
        ingest_s, ingest_mb = _timed([str(BIN / "lethe"), "ingest"], env_for(home, landing))
    env = env_for(home, landing)
    dbt_s, dbt_mb = _timed([str(BIN / "lethe"), "build", "--select", "*"], env)
    # the rest of `lethe build`: train and score the withdrawal-risk model (timed apart: the direct-SQL
    # comparison is about dbt; later stages need a complete home)
    risk_s, risk_mb = _timed([PY, "-c", "from lethe.risk import train_and_score; from lethe.settings import "
                              "get_settings; print(train_and_score(get_settings()).render())"], env)
    direct = subprocess.run([PY, str(ROOT / "scripts/bench_build_direct.py")], env=env, capture_output=True, text=True)
    if direct.returncode != 0:
        raise SystemExit(f"bench: direct SQL failed:\n{direct.stderr[-3000:]}")
    d = last_json(direct.stdout)
    # Like for like: the direct run has models and data tests but no dbt unit tests, so dbt is timed again
    # without them (--full-refresh recreates every table, the same work as the first build on this raw layer).
    bare_s, _ = _timed([PY, "-c", "from lethe.build import run_build; from lethe.settings import get_settings; "
                        "run_build(get_settings(), select='*', full_refresh=True, unit_tests=False)"], env)
    return {
        "command": "lethe ingest && lethe build --select '*'  vs  scripts/bench_build_direct.py",
        "ingest_wall_s": ingest_s, "ingest_peak_rss_mb": ingest_mb,
        "dbt_build_wall_s": dbt_s, "dbt_build_peak_rss_mb": dbt_mb,
        "risk_train_score_wall_s": risk_s, "risk_train_score_peak_rss_mb": risk_mb, **d,
        "ratio_dbt_build_to_direct_sql": round(dbt_s / d["direct_sql_wall_s"], 2),
        "dbt_build_full_refresh_without_unit_tests_wall_s": bare_s,
        "ratio_without_unit_tests": round(bare_s / d["direct_sql_wall_s"], 2),
    }


def stage_incremental(args, work: Path) -> dict:
    """The build stage's home, copied (a day of data is added to it): full build vs incremental build."""
    scratch = work / "incremental-scratch"
    if scratch.exists():
        shutil.rmtree(scratch)
    home, landing = scratch / "home", scratch / "landing"
    shutil.copytree(work / "home", home)
    shutil.copytree(work / "landing-pipeline", landing)
    try:
        res = subprocess.run([PY, str(ROOT / "scripts/bench_build_incremental.py"), "--home", str(home),
                              "--landing", str(landing), "--tenants", str(landing / "tenants.yml"), "--as-of", AS_OF,
                              "--secret", SECRET, "--days", str(args.incremental_days)], capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"bench: bench_build_incremental failed:\n{res.stderr[-3000:]}")
        return {"command": f"scripts/bench_build_incremental.py --home COPY-OF-HOME --days {args.incremental_days}",
                **last_json(res.stdout)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def stage_purge(args, work: Path) -> dict:
    home, landing = work / "home", work / "landing-pipeline"
    res = subprocess.run([PY, str(ROOT / "scripts/bench_purge.py"), "--home", str(home), "--landing", str(landing),
                          "--tenants", str(landing / "tenants.yml"), "--as-of", AS_OF, "--secret", SECRET,
                          "--erasures", "10000"], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"bench: bench_purge failed:\n{res.stderr[-3000:]}")
    return {"command": "scripts/bench_purge.py --home HOME --erasures 10000", **last_json(res.stdout)}


def stage_dashboard(args, work: Path) -> dict:
    home, landing = work / "home", work / "landing-pipeline"
    env = env_for(home, landing)
    subprocess.run([str(BIN / "lethe"), "publish"], env=env, check=True, capture_output=True)
    res = subprocess.run([PY, str(ROOT / "scripts/bench_dashboard.py"), "--home", str(home), "--repeat", "20"],
                         env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"bench: bench_dashboard failed:\n{res.stderr[-3000:]}")
    return {"command": "scripts/bench_dashboard.py --home HOME --repeat 20", **last_json(res.stdout)}


def stage_spark(args, work: Path) -> dict:
    """dbt on DuckDB vs on local Spark over the same raw layer: by default the generated landing zone ingested
    afresh into its own home (the build stage's home has been purged by now); --spark-subjects N generates a
    small one instead."""
    script = ROOT / "scripts/bench_spark.py"
    if args.spark_subjects:
        cmd = [PY, str(script), "--subjects", str(args.spark_subjects)]
        label = f"scripts/bench_spark.py --subjects {args.spark_subjects}"
        ingest = {}
    else:
        home, landing, scratch = work / "spark-home", work / "landing", work / "spark-work"
        for path in (home, scratch):
            shutil.rmtree(path, ignore_errors=True)
        scratch.mkdir(parents=True)
        ingest_s, ingest_mb = _timed([str(BIN / "lethe"), "ingest", "--landing", str(landing)], env_for(home, landing))
        cmd = [PY, str(script), "--home", str(home), "--tenants", str(landing / "tenants.yml"), "--secret", SECRET,
               "--as-of", AS_OF, "--work", str(scratch), "--driver-memory", "8g"]
        label = "lethe ingest && scripts/bench_spark.py --home HOME --as-of AS_OF --driver-memory 8g"
        ingest = {"ingest_wall_s": ingest_s, "ingest_peak_rss_mb": ingest_mb}
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"bench: bench_spark failed:\n{res.stderr[-3000:]}")
    return {"command": label, **ingest, **last_json(res.stdout)}


def stage_airflow(args, work: Path) -> dict:
    landing = work / "landing"
    res = subprocess.run([PY, str(ROOT / "scripts/bench_airflow.py"), "--landing", str(landing),
                          "--tenants", str(landing / "tenants.yml"), "--work", str(work / "airflow-bench"),
                          "--as-of", AS_OF, "--secret", SECRET], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"bench: bench_airflow failed:\n{res.stderr[-3000:]}")
    return {"command": "scripts/bench_airflow.py --landing DIR --tenants DIR/tenants.yml --work W", **last_json(res.stdout)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=200000)
    parser.add_argument("--work", type=Path, default=ROOT / ".bench")
    parser.add_argument("--spark-subjects", type=int, default=0,
                        help="spark stage: generate this many subjects instead of using the --subjects landing zone")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                        help="where each stage's JSON is kept (tracked in git, so BENCHMARKS.md can be re-rendered)")
    parser.add_argument("--skip-ingest", action="store_true",
                        help="build stage: reuse the ingested home an earlier build stage left in --work")
    parser.add_argument("--incremental-days", type=int, default=3,
                        help="incremental stage: days added and built one after another (the median is reported)")
    parser.add_argument("--only", nargs="*", choices=STAGES, help="run only these stages")
    args = parser.parse_args(argv)
    results_dir = args.results
    results_dir.mkdir(parents=True, exist_ok=True)
    for stage in args.only or STAGES:
        print(f"[bench] {stage} ...", flush=True)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        result = globals()[f"stage_{stage}"](args, args.work)
        result.update({"measured_at": started, "machine": machine(), "subjects": args.subjects,
                       "load_average_after": round(os.getloadavg()[0], 2)})
        (results_dir / f"{stage}.json").write_text(json.dumps(result, indent=2, default=str))
        print(json.dumps(result, indent=2, default=str), flush=True)
    print(f"[bench] results in {results_dir}; BENCHMARKS.md is written from them by scripts/bench_report.py")
    subprocess.run([PY, str(ROOT / "scripts/bench_report.py"), "--results", str(results_dir)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
