"""Time `lethe ingest` against the floor (DuckDB reading the same files straight into tables, no
validation) on one landing zone; print JSON with wall time, rows, rows per second and peak memory.

    .venv/bin/python scripts/bench_ingest.py --landing /tmp/x [--work DIR]
"""

# ruff: noqa: S608 -- SQL is built from contract names and this script's own paths.
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

FLOOR_READERS = {
    "jsonl": "read_json({files}, format='newline_delimited', union_by_name=true, filename=true, ignore_errors=true, maximum_object_size=268435456)",
    # one document per file, all alike: union_by_name would read every file's schema (OOM over 46k transcripts)
    "json": "read_json({files}, format='auto', filename=true, ignore_errors=true, maximum_object_size=268435456)",
    "json_array": "read_json({files}, format='array', union_by_name=true, filename=true, ignore_errors=true, maximum_object_size=268435456)",
    "csv": "read_csv({files}, header=true, union_by_name=true, filename=true, ignore_errors=true)",
}


def floor(landing: Path, db: Path) -> dict:
    """DuckDB reading every dataset's files straight into tables: one reader call per dataset."""
    from lethe.contracts import load_all_contracts

    con = duckdb.connect(str(db))
    rows = 0
    errors = {}
    for contract in load_all_contracts().values():
        owners = "_centre" if contract.centre else "[!_]*"
        base = f"{landing}/{owners}/{contract.source_dir}/**/"
        if contract.format == "file":
            rows += con.execute(f"select count(*) from read_blob('{base}*')").fetchone()[0]
            continue
        ext = contract.landing_path.rsplit("*.", 1)[-1]
        globs = [g for g in (f"{base}*.{ext}", f"{base}*.{ext}.gz")
                 if con.execute("select count(*) from glob(?)", [g]).fetchone()[0]]
        if not globs:
            continue
        files = "[" + ", ".join(f"'{g}'" for g in globs) + "]"
        try:
            con.execute(f"create table {contract.dataset} as select * from {FLOOR_READERS[contract.format].format(files=files)}")
            rows += con.execute(f"select count(*) from {contract.dataset}").fetchone()[0]
        except duckdb.Error as exc:
            errors[contract.dataset] = str(exc).splitlines()[0][:200]
    con.close()
    return {"rows": rows, "errors": errors}


class _Phases(logging.Handler):
    """Sums the per-phase seconds ingest logs (`lethe_phases` on its records)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        for phase, sec in getattr(record, "lethe_phases", {}).items():
            self.seconds[phase] = self.seconds.get(phase, 0.0) + sec


def ingest(landing: Path, home: Path) -> dict:
    start = time.perf_counter()
    from lethe.ingest import run_ingest
    from lethe.settings import load_settings

    phases = _Phases()
    logger = logging.getLogger("lethe.ingest")
    logger.addHandler(phases)
    logger.setLevel(logging.INFO)
    settings = load_settings({"LETHE_HOME": str(home), "LETHE_SECRET_KEY": "bench"})
    summary = run_ingest(settings, landing).to_dict()
    phases.seconds["imports_and_rest"] = time.perf_counter() - start - sum(phases.seconds.values())
    return {"rows": summary["totals"]["loaded"], "totals": summary["totals"],
            "phase_seconds": {k: round(v, 1) for k, v in phases.seconds.items()}}


def _child(mode: str, landing: Path, work: Path) -> dict:
    """Run one mode in a fresh process; return its result, wall time and peak RSS."""
    out = work / f"{mode}.json"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--landing", str(landing), "--work", str(work), "--mode", mode])
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"bench_ingest: {mode} run failed (status {status})")
    result = json.loads(out.read_text())
    result.update(seconds=round(seconds, 2), peak_rss_mb=round(usage.ru_maxrss / 1024, 1))
    result["rows_per_second"] = round(result["rows"] / seconds, 1) if seconds else None
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True, type=Path)
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one, removed)")
    parser.add_argument("--mode", choices=["floor", "ingest"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    landing = args.landing.resolve()
    if not landing.is_dir():
        print(f"bench_ingest: landing zone {landing} does not exist", file=sys.stderr)
        return 1
    if args.mode:
        work = args.work
        result = floor(landing, work / "floor.duckdb") if args.mode == "floor" else ingest(landing, work / "home")
        (work / f"{args.mode}.json").write_text(json.dumps(result))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="lethe-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        files = sum(1 for p in landing.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in landing.rglob("*") if p.is_file())
        fl = _child("floor", landing, work)
        ing = _child("ingest", landing, work)
        report = {
            "landing": str(landing), "files": files, "bytes": size,
            "floor": fl, "ingest": ing,
            "ratio": round(ing["seconds"] / fl["seconds"], 2) if fl["seconds"] else None,
            "goal": {"ratio_max": 2.0, "peak_rss_mb_max": 4096},
        }
        report["goal_met"] = bool(report["ratio"] and report["ratio"] <= 2.0 and ing["peak_rss_mb"] < 4096)
        print(json.dumps(report, indent=2))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
