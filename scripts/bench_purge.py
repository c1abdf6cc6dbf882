"""Benchmark the purge engine on a generated, ingested and built LETHE_HOME; prints JSON.

1. A retention purge of everything due (`lethe purge`), then
2. N erasure requests (DSR rows type erasure, verified, for N random CRM contacts without a legal hold)
   processed in ONE run by `lethe.dsr.process_requests`.

For each: wall time, peak RSS (each measured in a fresh process), time per engine phase, and the ratio to
the floor: bare DELETE statements of the same rows (the run's persisted plan) on a copy of the warehouse
taken just before the run. The engine forgets a run's plan rows when it is done; the measured child keeps them
so that the floor can read them, and they are forgotten after it, timed, and that time added to the run's.
The runs are destructive: point --home at a copy.

    python scripts/bench_purge.py --home H --landing L --tenants T --as-of 2026-06-01 --erasures 10000
    python scripts/bench_purge.py --home H ... --skip-retention   # erasures only, e.g. on a `lethe run` home
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

DELETE_KEYS = {
    "contact_records": "contact_id",
    "transcripts": "contact_id",
    "email_events": "sg_event_id",
    "crm_contacts": "id",
    "crm_individuals": "id",
    "crm_consents": "id",
}


def _settings(args: argparse.Namespace):
    from lethe.settings import load_settings

    env = {"LETHE_HOME": args.home, "LETHE_AS_OF": args.as_of, "LETHE_SECRET_KEY": args.secret}
    if args.landing:
        env["LETHE_LANDING"] = args.landing
    if args.tenants:
        env["LETHE_TENANTS"] = args.tenants
    return load_settings(env)


def _measure(args: argparse.Namespace) -> dict:
    """Run one phase in this process (called in a child); return timings and peak memory."""
    import lethe.purge.engine as engine
    from lethe.purge import journal

    forget = journal.forget_records

    def keep_the_runs_rows(con, run_id=None):  # every ended run's at the start (the earlier phase's, measured)
        if run_id is None:
            forget(con)

    journal.forget_records = keep_the_runs_rows
    settings = _settings(args)
    marks: list[tuple[str, float]] = []
    engine.HOOK = lambda name: marks.append((name, time.perf_counter()))
    start = time.perf_counter()
    exported = 0
    if args.phase == "retention":
        from lethe.purge import run_purge

        result = run_purge(settings, dry_run=False)
        run_id, records = result.run_id, result.record_count
    else:
        from lethe.dsr import process_requests

        outcome = process_requests(settings)
        run_id, records = outcome.erasure_run, outcome.outcomes.get("erased", 0)
        exported = outcome.outcomes.get("exported", 0)
    wall = time.perf_counter() - start
    phases: dict[str, float] = {}
    opened = {n.split(":", 1)[1]: t for n, t in marks if n.startswith("before:")}
    for name, t in marks:
        if name.startswith("after:") and name.split(":", 1)[1] in opened:
            phases[name.split(":", 1)[1]] = round(t - opened[name.split(":", 1)[1]], 3)
    planned = next((t for n, t in marks if n == "planned"), None)
    if planned is not None:
        phases["plan"] = round(planned - start, 3)
    verified = next((t for n, t in marks if n == "verified"), None)
    split = {}
    if verified is not None and args.phase == "erasure":
        # process_requests runs the erasures first (one purge run, ending verified), then every pending access
        # or portability request (an export each): the erasure time is the purge run's alone
        split = {"erasure_run_s": round(verified - start, 3), "access_exports": exported,
                 "access_exports_s": round(wall - (verified - start), 3)}
    return {
        "run_id": run_id,
        "records": records,
        "derived": _derived(settings, run_id),
        "landing_files": _landing_files(settings, run_id),
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "phases_s": phases,
        **split,
    }


def _derived(settings, run_id: str | None) -> str | None:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        row = con.execute("select derived from lethe_meta.purge_runs where run_id = ?", [run_id]).fetchone()
    finally:
        con.close()
    return row[0] if row else None


def _landing_files(settings, run_id: str | None) -> dict:
    """Files in the landing zone now, files the plan named (a null path = a whole dataset scanned), files changed."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        named, scanned = con.execute(
            "select count(path), count(*) - count(path) from lethe_meta.purge_landing_files where run_id = ?", [run_id]
        ).fetchone()
        changed = con.execute(
            "select count(*) from lethe_meta.purge_counts where run_id = ? and target like 'landing:%'", [run_id]
        ).fetchone()[0]
    finally:
        con.close()
    total = sum(1 for p in settings.landing.rglob("*") if p.is_file())
    return {"in_landing": total, "named_by_plan": int(named), "datasets_scanned_whole": int(scanned),
            "rewritten_or_deleted": int(changed)}


def _child(args: argparse.Namespace, phase: str) -> dict:
    cmd = [sys.executable, __file__, "--phase", phase, "--home", args.home, "--as-of", args.as_of, "--secret", args.secret]
    if args.landing:
        cmd += ["--landing", args.landing]
    if args.tenants:
        cmd += ["--tenants", args.tenants]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _floor(before: Path, live: Path, run_id: str) -> dict:
    """Bare DELETEs of the run's planned rows on the pre-run copy: the time no purge can beat."""
    con = duckdb.connect(str(before))
    try:
        con.execute(f"attach '{live}' as live (read_only)")
        con.execute(
            "create temp table plan as select * from live.lethe_meta.purge_plans where run_id = ? and action = 'delete' "
            "and data_category <> 'interaction.recording'",
            [run_id],
        )
        con.execute("detach live")
        rows = 0
        start = time.perf_counter()
        for table, key in DELETE_KEYS.items():
            n = con.execute(
                f"delete from raw.{table} where tenant_id || chr(31) || {key} in "  # noqa: S608
                f"(select tenant_id || chr(31) || record_id from plan where source_table = '{table}')"
            ).fetchone()[0]
            rows += n
        elapsed = time.perf_counter() - start
    finally:
        con.close()
    return {"floor_s": round(elapsed, 3), "floor_rows": rows}


def _forget(settings, run_id: str) -> float:
    """Forget the run's plan rows (as the engine does when a run is done); seconds taken."""
    from lethe.purge import journal

    con = duckdb.connect(str(settings.warehouse))
    try:
        start = time.perf_counter()
        journal.forget_records(con, run_id)
        return round(time.perf_counter() - start, 3)
    finally:
        con.close()


def _finish(settings, result: dict) -> None:
    """The plan rows forgotten, their time added to the run's; the ratio to the floor."""
    result["forget_s"] = _forget(settings, result["run_id"])
    for key in ("wall_s", "erasure_run_s"):
        if key in result:
            result[key] = round(result[key] + result["forget_s"], 3)
    result["ratio_to_floor"] = round(result["wall_s"] / max(result["floor_s"], 1e-3), 1)


def _queue_erasures(settings, n: int) -> int:
    """Insert n verified erasure requests for random CRM contacts without a legal hold (set-based); none when an
    earlier attempt on this home queued them (a second copy of each would fail the build's unique test)."""
    con = duckdb.connect(str(settings.warehouse))
    try:
        queued = "select count(*) from raw.dsr_requests where request_id like 'bench-erasure-%'"
        already = con.execute(queued).fetchone()[0]
        if already:
            return already
        con.execute(
            f"""
            insert into raw.dsr_requests (tenant_id, request_id, received_at, type, crm_contact_id, verified_at,
                                          _source_file, _source_row, _batch_id, _loaded_at)
            select c.tenant_id, 'bench-erasure-' || c.id, $at::timestamp, 'erasure', c.id, $at::timestamp,
                   'bench', 0, 'bench', $at::timestamp
            from raw.crm_contacts c
            where not exists (select 1 from raw.legal_holds h where h.tenant_id = c.tenant_id
                              and (h.crm_contact_id = c.id or h.subject_email = c.email))
            using sample reservoir({int(n)} rows) repeatable (42)
            """,  # noqa: S608
            {"at": settings.as_of.replace(tzinfo=None)},
        )
        return con.execute(queued).fetchone()[0]
    finally:
        con.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="LETHE_HOME (generated, ingested, built): it is modified")
    parser.add_argument("--landing", help="LETHE_LANDING (default $home/landing)")
    parser.add_argument("--tenants", help="tenant policy file (the generator writes one next to the landing zone)")
    parser.add_argument("--as-of", default="2026-06-01T00:00:00Z")
    parser.add_argument("--secret", default="bench-secret", help="LETHE_SECRET_KEY used when the home was built")
    parser.add_argument("--erasures", type=int, default=10000)
    parser.add_argument("--skip-retention", action="store_true",
                        help="only the erasures (on a home whose due data a `lethe run` already purged)")
    parser.add_argument("--phase", choices=["retention", "erasure"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(_measure(args)))
        return 0
    settings = _settings(args)
    report: dict = {"home": args.home, "erasures_requested": args.erasures}
    with tempfile.TemporaryDirectory(dir=settings.home.parent) as tmp:
        before = Path(tmp) / "before.duckdb"
        if not args.skip_retention:
            shutil.copy(settings.warehouse, before)
            retention = _child(args, "retention")
            retention.update(_floor(before, settings.warehouse, retention["run_id"]))
            _finish(settings, retention)
            report["retention"] = retention
        report["erasures_queued"] = _queue_erasures(settings, args.erasures)
        shutil.copy(settings.warehouse, before)
        erasure = _child(args, "erasure")
        if erasure["run_id"]:
            erasure.update(_floor(before, settings.warehouse, erasure["run_id"]))
            _finish(settings, erasure)
        report["erasure"] = erasure
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
