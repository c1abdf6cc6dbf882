"""End to end through Airflow: `airflow dags test` the three DAGs on a generated landing zone.

One migrated AIRFLOW_HOME (SQLite) serves the whole module; each scenario has its own LETHE_HOME and
its own copy of the landing zone (a purge rewrites landing files). The keyed-hash key is fixed so two
homes built from the same input can be compared table by table.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pytest
from warehouse_state import differences, table_state

from lethe.orchestration.airflow_home import AirflowHome, airflow_env, dags_test, prepare
from lethe.orchestration.callbacks import read_jsonl

pytestmark = pytest.mark.slow

END = "2026-03-01T00:00:00+00:00"
BACKFILL = ("2026-02-27T00:00:00+00:00", "2026-02-28T00:00:00+00:00", END)
SECRET = "e2e-fixed-key-" + "0" * 32
LETHE = str(Path(sys.executable).parent / "lethe")
# lethe_transform renders ~80 cosmos tasks, each its own in-process dbt invocation (3-8 s apiece on two
# shared cores), so one transform run costs minutes and the backfill needs three: opt in to run them.
FULL = os.environ.get("LETHE_TEST_AIRFLOW_FULL") == "1"
needs_transform_runs = pytest.mark.skipif(
    not FULL, reason="runs lethe_transform through cosmos (minutes per run); set LETHE_TEST_AIRFLOW_FULL=1"
)


@dataclass(frozen=True)
class Home:
    """One scenario: its Lethe home, landing copy, policy file and the Airflow home it runs on."""

    root: Path
    policy: Path
    airflow: AirflowHome

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    def env(self) -> dict[str, str]:
        return self.airflow.env

    def dag(self, dag_id: str, logical_date: str = END, check: bool = True) -> subprocess.CompletedProcess[str]:
        return dags_test(self.airflow, dag_id, logical_date, timeout=1800, check=check)

    def lethe(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([LETHE, *args], env=self.env(), capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small generated landing zone (300 subjects) and its matching tenant policy file."""
    pytest.importorskip("lethe.synth", reason="lethe generate (src/lethe/synth) is not in this checkout yet")
    out = tmp_path_factory.mktemp("generated") / "landing"
    proc = subprocess.run(
        [LETHE, "generate", "--out", str(out), "--subjects", "300", "--seed", "11", "--as-of", END],
        capture_output=True, text=True, timeout=900, env=dict(os.environ, LETHE_HOME=str(out.parent / "gen_home")),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    candidates = [out / "tenants.yml", out.parent / "tenants.yml", *out.glob("*.y*ml"), *out.parent.glob("*.y*ml")]
    policy = next((p for p in candidates if p.is_file() and "tenants:" in p.read_text()), None)
    assert policy is not None, f"lethe generate wrote no tenant policy file near {out}"
    return out, policy


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    """One migrated metadata DB with the pool and the serialised DAGs, shared by every scenario."""
    root = tmp_path_factory.mktemp("airflow")
    return prepare(root / "home", os.environ, lethe_home=root / "unused-lethe-home", extra={"LETHE_SECRET_KEY": SECRET})


@pytest.fixture(scope="module")
def new_home(tmp_path_factory, generated, airflow):
    """Factory: a fresh Lethe home with its own copy of the landing zone (and optionally another policy)."""

    def make(name: str, policy: Path | None = None) -> Home:
        root = tmp_path_factory.mktemp(name)
        landing = root / "landing"
        shutil.copytree(generated[0], landing)
        policy_file = policy or generated[1]
        env = airflow_env(
            airflow.path, airflow.env, lethe_home=root,
            extra={"LETHE_LANDING": str(landing), "LETHE_TENANTS": str(policy_file), "LETHE_SECRET_KEY": SECRET},
        )
        return Home(root=root, policy=policy_file, airflow=replace(airflow, env=env))

    return make


def _raw_rows(warehouse: Path) -> dict[str, int]:
    return {name: count for name, (count, _) in table_state(warehouse, ("raw",)).items()}


# --- the ingest DAG alone (issue 2) -----------------------------------------------------------

@pytest.fixture(scope="module")
def ingested(new_home) -> tuple[Home, dict[str, tuple[int, int]]]:
    home = new_home("through_airflow")
    home.dag("lethe_ingest")
    return home, table_state(home.warehouse, ("raw",))


def test_ingest_dag_loads_every_source_into_raw_tables(ingested) -> None:
    home, raw = ingested
    rows = {name: count for name, (count, _) in raw.items()}
    for table in ("raw.contact_records", "raw.email_events", "raw.crm_contacts", "raw.crm_consents", "raw.agents"):
        assert rows.get(table, 0) > 0, f"{table} is empty after lethe_ingest: {rows}"
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        views = {r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = 'staging'").fetchall()}
        manifest_files = con.execute("select count(*) from lethe_meta.manifest").fetchone()[0]
    finally:
        con.close()
    assert "stg_connect__contact_records" in views and "stg_sendgrid__email_events" in views
    assert manifest_files > 0
    runs = [r for r in read_jsonl(home.root / "runs" / "runs.jsonl") if r["dag_id"] == "lethe_ingest"]
    assert runs and runs[-1]["state"] == "success"


def test_rerunning_the_ingest_dag_loads_nothing_twice(ingested) -> None:
    home, raw = ingested
    home.dag("lethe_ingest")
    assert table_state(home.warehouse, ("raw",)) == raw


# --- the three DAGs in order, against `lethe run` ----------------------------------------------

@pytest.fixture(scope="module")
def enforced(ingested) -> Home:
    home, _ = ingested
    home.dag("lethe_transform")
    home.dag("lethe_enforce")
    return home


@pytest.fixture(scope="module")
def cli_run(new_home) -> Home:
    home = new_home("through_lethe_run")
    home.lethe("run", "--as-of", END)
    return home


@needs_transform_runs
def test_the_three_dags_build_marts_purge_and_publish(enforced) -> None:
    home = enforced
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        marts = {r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}
        due = con.execute("select count(*) from marts.retention_due").fetchone()[0]
        purges = con.execute("select status, count(*) from lethe_meta.purge_runs group by 1").fetchall()
    finally:
        con.close()
    assert {"retention_due", "fct_consent_status", "dim_subjects"} <= marts
    assert dict(purges).get("done", 0) >= 1, purges
    assert due == 0, "records still due after lethe_enforce purged at the same as-of"
    events = [r.get("event") for r in read_jsonl(home.root / "audit" / "audit.jsonl")]
    assert "purge.planned" in events and "purge.completed" in events
    snapshot = home.root / "snapshot" / "current.duckdb"
    assert snapshot.exists()
    snap = duckdb.connect(str(snapshot), read_only=True)
    try:
        as_of = snap.execute("select as_of from main.snapshot_info").fetchone()[0]
        pipeline_runs = snap.execute("select count(*) from pipeline.runs").fetchone()[0]
    finally:
        snap.close()
    assert as_of.isoformat().startswith("2026-03-01T00:00:00")
    assert pipeline_runs >= 2  # lethe_ingest and lethe_transform had finished when enforce published
    states = {(r["dag_id"], r["state"]) for r in read_jsonl(home.root / "runs" / "runs.jsonl")}
    assert {("lethe_ingest", "success"), ("lethe_transform", "success"), ("lethe_enforce", "success")} <= states


@needs_transform_runs
def test_airflow_and_lethe_run_end_in_the_same_warehouse(enforced, cli_run) -> None:
    assert differences(table_state(enforced.warehouse), table_state(cli_run.warehouse)) == {}


@needs_transform_runs
def test_airflow_and_lethe_run_purge_the_same_records(enforced, cli_run) -> None:
    def purged(home: Home) -> list[tuple]:
        con = duckdb.connect(str(home.warehouse), read_only=True)
        try:
            return con.execute(
                "select tenant_id, data_category, table_name, action, sum(record_count) "
                "from lethe_meta.purge_counts group by all order by all"
            ).fetchall()
        finally:
            con.close()

    assert purged(enforced) == purged(cli_run)
    assert purged(enforced), "nothing was purged from a landing zone generated with overdue data"


# --- backfill ----------------------------------------------------------------------------------

@needs_transform_runs
def test_three_consecutive_intervals_end_where_one_run_at_the_last_does(new_home, enforced) -> None:
    home = new_home("backfill")
    for logical_date in BACKFILL:
        for dag_id in ("lethe_ingest", "lethe_transform", "lethe_enforce"):
            home.dag(dag_id, logical_date)
    assert differences(table_state(home.warehouse), table_state(enforced.warehouse)) == {}


# --- retry after a kill ------------------------------------------------------------------------

def _kill_when_writing(home: Home, dag_id: str, marker: re.Pattern[str], timeout: float = 900) -> None:
    """Start `airflow dags test`, SIGKILL it (whole process group) once its log shows `marker`."""
    log = home.root / f"{dag_id}.killed.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id, END],
            env=home.env(), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if marker.search(log.read_text(errors="replace")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, f"{dag_id} finished before it could be killed; see {log}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.xfail(
    reason="open: after SIGKILL of `airflow dags test lethe_ingest` and a rerun, raw.crm_* and raw.legal_holds "
    "came out empty while a clean run loads them (seen 2026-11-23; manifest/data atomicity or an orphaned "
    "task process still to be found)",
    strict=False,
)
def test_an_ingest_killed_mid_write_and_retried_matches_a_clean_run(new_home, ingested) -> None:
    home = new_home("killed")
    # the second family's load starts after the first family committed some files: kill in the middle
    _kill_when_writing(home, "lethe_ingest", re.compile(r"task_id=contact_records\.load|contact_records\.load"))
    partial = _raw_rows(home.warehouse) if home.warehouse.exists() else {}
    home.dag("lethe_ingest")  # the retry: a new attempt of the same run
    _, clean = ingested
    assert table_state(home.warehouse, ("raw",)) == clean, f"after kill at {partial}"


# --- a guard trip ------------------------------------------------------------------------------

@pytest.mark.skipif(not FULL, reason="not yet run green on this machine; set LETHE_TEST_AIRFLOW_FULL=1")
def test_a_zero_day_policy_trips_the_guard_and_deletes_nothing(new_home, generated, ingested, tmp_path) -> None:
    zero = tmp_path / "tenants-zero-retention.yml"
    zero.write_text(re.sub(r"(interaction\.\w+|campaign\.event|crm\.contact):\s*\d+", r"\1: 0", generated[1].read_text()))
    home = new_home("guard_trip", policy=zero)
    source, _ = ingested
    shutil.copy(source.warehouse, home.warehouse)  # the same raw layer, judged under the 0-day policy
    home.lethe("build", "--as-of", END)
    before = table_state(home.warehouse, ("raw",))
    landing_before = sorted((p.relative_to(home.root), p.stat().st_size) for p in (home.root / "landing").rglob("*") if p.is_file())

    proc = home.dag("lethe_enforce", check=False)

    assert proc.returncode != 0
    failures = [r for r in read_jsonl(home.root / "runs" / "failures.jsonl") if r["dag_id"] == "lethe_enforce"]
    assert [r["task_id"] for r in failures] == ["check_guards"], failures
    assert "GuardError" in failures[0]["reason"] and failures[0]["try_number"] == 1
    assert table_state(home.warehouse, ("raw",)) == before
    assert sorted((p.relative_to(home.root), p.stat().st_size) for p in (home.root / "landing").rglob("*") if p.is_file()) == landing_before
    runs = [r for r in read_jsonl(home.root / "runs" / "runs.jsonl") if r["dag_id"] == "lethe_enforce"]
    assert runs and runs[-1]["state"] == "failed"
    assert not (home.root / "snapshot" / "current.duckdb").exists(), "publish ran after a guard trip"
