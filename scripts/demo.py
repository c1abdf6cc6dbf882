"""`make demo`: generate a landing zone, run the three DAGs through Airflow, serve the dashboard.

Runs `airflow dags test` for lethe_ingest, lethe_transform and lethe_enforce (in the order their
Assets would trigger them) on a migrated SQLite metadata DB in ./.airflow, then starts the
dashboard on the published snapshot at http://localhost:8501. Running it again reuses the
generated landing zone and the Airflow home; every step is idempotent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from lethe.settings import PROJECT_ROOT, load_settings


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1500)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--no-serve", action="store_true", help="stop after the pipeline has run")
    args = parser.parse_args(argv)

    settings = load_settings()
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)  # before the landing zone inside it: owner-only
    landing = settings.landing
    tenants_file = landing / "tenants.yml"
    # The demo's history ends today at midnight UTC, and the DAGs judge it as of then.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    as_of = today.isoformat()

    from lethe.synth import generate

    if tenants_file.exists():
        say(f"reusing the landing zone in {landing}")
    else:
        say(f"generating {args.subjects} subjects for {args.tenants} tenants into {landing}")
        summary = generate(out=landing, tenants=args.tenants, subjects=args.subjects, days=730, seed=42, end=as_of)
        print(summary.render(), flush=True)

    os.environ["LETHE_TENANTS"] = str(tenants_file)
    os.environ["LETHE_HOME"] = str(settings.home)
    from lethe.orchestration.airflow_home import DAG_IDS, dags_test, prepare

    say("preparing Airflow in ./.airflow (metadata DB migration, pool lethe_warehouse, DAG serialisation)")
    home = prepare(PROJECT_ROOT / ".airflow", os.environ, lethe_home=settings.home)
    for dag_id in DAG_IDS:
        start = time.perf_counter()
        say(f"airflow dags test {dag_id} {as_of}")
        dags_test(home, dag_id, as_of)
        say(f"{dag_id} succeeded in {time.perf_counter() - start:.0f} s")

    from lethe.status import compute_status

    kpis = compute_status(settings.with_as_of(as_of))
    width = max(map(len, kpis), default=0)
    for name, value in kpis.items():
        shown = int(value) if isinstance(value, float) and value.is_integer() else value
        print(f"  {name:<{width}}  {shown}")
    if args.no_serve:
        return 0

    users = PROJECT_ROOT / "docs" / "dashboard.md"
    say(f"dashboard: http://localhost:{args.port}   (logins: {users.relative_to(PROJECT_ROOT)})")
    lethe = Path(sys.executable).parent / "lethe"
    os.execv(str(lethe), [str(lethe), "dashboard", "--headless", "--port", str(args.port)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
