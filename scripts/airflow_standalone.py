"""`make airflow`: Airflow standalone on ./.airflow with Lethe's DAGs loaded and the one-writer pool created.

Sets AIRFLOW_HOME, the dags folder and load_examples=False, migrates the metadata DB, creates the
`lethe_warehouse` pool (one slot), pre-builds the dbt manifest, then runs `airflow standalone` and
prints the UI address and where the generated admin password is.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lethe.orchestration.airflow_home import landing_policy_file, prepare
from lethe.settings import PROJECT_ROOT, get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--airflow-home", default=str(PROJECT_ROOT / ".airflow"), help="AIRFLOW_HOME (default ./.airflow)")
    parser.add_argument("--port", type=int, default=8080, help="API server / UI port (default 8080)")
    parser.add_argument("--prepare-only", action="store_true", help="migrate, create the pool and exit")
    args = parser.parse_args(argv)

    airflow_home = Path(args.airflow_home).resolve()
    lethe_home = get_settings().home
    policy = landing_policy_file(os.environ, get_settings().landing)
    if policy is not None:
        os.environ["LETHE_TENANTS"] = str(policy)
        print(f"LETHE_TENANTS={policy} (the policy file generated with this landing zone, as `make demo` uses it)",
              flush=True)
    print(f"AIRFLOW_HOME={airflow_home}  LETHE_HOME={lethe_home}", flush=True)
    print("migrating the metadata DB, creating pool lethe_warehouse (1 slot), parsing the dbt project ...", flush=True)
    home = prepare(
        airflow_home,
        os.environ,
        lethe_home=lethe_home,
        extra={"AIRFLOW__API__PORT": str(args.port)},
        reserialize=False,
    )
    if args.prepare_only:
        print("prepared; run without --prepare-only to start Airflow")
        return 0

    password_file = airflow_home / "simple_auth_manager_passwords.json.generated"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "standalone"], env=home.env)
    url = f"http://localhost:{args.port}"
    for _ in range(120):
        if password_file.exists() or proc.poll() is not None:
            break
        time.sleep(1)
    print("\n" + "=" * 72)
    print(f"Airflow UI:  {url}")
    print(f"Login:       user 'admin', password in {password_file}")
    if password_file.exists():
        print(f"             ({password_file.read_text().strip()})")
    print("DAGs:        lethe_ingest (hourly) -> lethe_transform (raw Asset) -> lethe_enforce (marts Asset)")
    print("Stop with Ctrl-C.")
    print("=" * 72 + "\n", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
