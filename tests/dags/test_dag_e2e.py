"""End to end through Airflow: `airflow dags test` the three DAGs on a generated landing zone.

One module fixture pays for the expensive part once: it generates a tiny landing zone, migrates one
AIRFLOW_HOME (SQLite), runs lethe_ingest → lethe_transform → lethe_enforce for one data interval, and
`lethe run` on a copy of the same input at the same as-of with the same LETHE_SECRET_KEY. Every other
scenario starts from a copy of one of its homes (a purge rewrites landing files, so nothing is shared).
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
AIRFLOW = str(Path(sys.executable).parent / "airflow")


@dataclass(frozen=True)
class Home:
    """One scenario: its Lethe home (warehouse, landing copy, runs, audit), policy and Airflow home."""

    root: Path
    policy: Path
    airflow: AirflowHome

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    def dag(self, dag_id: str, logical_date: str = END, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = dags_test(self.airflow, dag_id, logical_date, timeout=3600, check=False)
        (self.root / "logs").mkdir(exist_ok=True)
        (self.root / "logs" / f"{dag_id}-{logical_date[:10]}.log").write_text(proc.stdout + proc.stderr)
        if check:
            assert proc.returncode == 0, f"{dag_id} at {logical_date} failed:\n{(proc.stdout + proc.stderr)[-4000:]}"
        return proc

    def lethe(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([LETHE, *args], env=self.airflow.env, capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    def files(self) -> list[tuple[str, int]]:
        """Every landing file and its size: what a purge would rewrite or delete."""
        landing = self.root / "landing"
        return sorted((str(p.relative_to(landing)), p.stat().st_size) for p in landing.rglob("*") if p.is_file())


@dataclass(frozen=True)
class Pipeline:
    """What the module fixture ran: the DAGs through a backfill, `lethe run`, and the states in between."""

    @property
    def ingested_raw(self) -> dict[str, tuple[int, int]]:
        """The raw layer after the first lethe_ingest run: everything the landing zone holds."""
        return self.raw_after_each_interval[0]

    dags: Home
    cli: Home
    raw_after_each_interval: tuple[dict[str, tuple[int, int]], ...]
    transformed: Path
    """A copy of the DAG home taken right after lethe_transform, before lethe_enforce purged anything."""
    seconds: dict[str, float]


def _generate(out: Path) -> Path:
    """A tiny generated landing zone (2 tenants, 60 subjects) and its tenant policy file."""
    proc = subprocess.run(
        [LETHE, "generate", "--out", str(out), "--tenants", "2", "--subjects", "60", "--seed", "11", "--as-of", END],
        capture_output=True, text=True, timeout=900, env=dict(os.environ, LETHE_HOME=str(out.parent / "gen_home")),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    generated = out / "tenants.yml"
    assert generated.is_file(), f"lethe generate wrote no tenant policy file at {generated}"
    # At 60 subjects a tenant's whole transcript table can be past due (seen: 23 of 23 rows), which the
    # generated 95% share guard rightly refuses; the guard has its own scenario below, so the shared runs
    # allow any share.
    policy = out.parent / "tenants-e2e.yml"
    text, n = re.subn(r"purge_max_share:\s*[\d.]+", "purge_max_share: 1.0", generated.read_text())
    assert n >= 1, f"no purge_max_share in {generated}"
    policy.write_text(text)
    return policy


@pytest.fixture(scope="module")
def new_home(tmp_path_factory: pytest.TempPathFactory):
    """Factory: a Lethe home on the module's Airflow home, from the generated landing or a copy of a home."""
    root = tmp_path_factory.mktemp("e2e")
    landing = root / "generated" / "landing"
    policy = _generate(landing)
    airflow = prepare(root / "airflow", os.environ, lethe_home=root / "unused", extra={"LETHE_SECRET_KEY": SECRET})

    def make(name: str, copy_of: Path | None = None, policy_file: Path | None = None) -> Home:
        home = root / name
        if copy_of is None:
            home.mkdir()
            shutil.copytree(landing, home / "landing")
        else:
            shutil.copytree(copy_of, home)
        used = policy_file or policy
        env = airflow_env(
            airflow.path, airflow.env, lethe_home=home,
            extra={"LETHE_LANDING": str(home / "landing"), "LETHE_TENANTS": str(used), "LETHE_SECRET_KEY": SECRET},
        )
        return Home(root=home, policy=used, airflow=replace(airflow, env=env))

    return make


@pytest.fixture(scope="module")
def pipeline(new_home) -> Pipeline:
    """A three-interval backfill through the DAGs on one home, `lethe run --as-of END` on another.

    lethe_ingest (the one time-scheduled DAG) runs for three consecutive daily intervals; lethe_transform
    and lethe_enforce, which the raw and marts Assets trigger, run once at the last. That is what Airflow
    does when a backfill of lethe_ingest outruns the transform: the queued raw-Asset events are consumed by
    one lethe_transform run, judged at the latest upstream as-of. A lethe_transform per interval would be
    the stricter backfill, but one cosmos transform run (one `dbt build` per model: 55 tasks) took 192 s on
    two cores (beside another test), against 35-61 s for an ingest run, so two more would add about 6 minutes. The per-interval part is lethe_ingest, whose later intervals must
    load nothing twice."""
    seconds: dict[str, float] = {}
    dags = new_home("dags")
    raw_after: list[dict[str, tuple[int, int]]] = []
    for logical_date in BACKFILL:
        start = time.monotonic()
        dags.dag("lethe_ingest", logical_date)
        seconds[f"lethe_ingest {logical_date[:10]}"] = time.monotonic() - start
        raw_after.append(table_state(dags.warehouse, ("raw",)))
    start = time.monotonic()
    dags.dag("lethe_transform")
    seconds["lethe_transform"] = time.monotonic() - start
    transformed = dags.root.parent / "transformed"
    shutil.copytree(dags.root, transformed)
    start = time.monotonic()
    dags.dag("lethe_enforce")
    seconds["lethe_enforce"] = time.monotonic() - start
    cli = new_home("cli")
    start = time.monotonic()
    cli.lethe("run", "--as-of", END)
    seconds["lethe run"] = time.monotonic() - start
    print(f"\nDAG e2e timings (s): { {k: round(v) for k, v in seconds.items()} }")
    return Pipeline(dags=dags, cli=cli, raw_after_each_interval=tuple(raw_after), transformed=transformed,
                    seconds=seconds)


def _query(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# --- the three DAGs in order, against `lethe run` ----------------------------------------------

def test_the_ingest_dag_loads_every_source_and_builds_staging(pipeline: Pipeline) -> None:
    rows = {name: count for name, (count, _) in pipeline.ingested_raw.items()}
    for table in ("raw.contact_records", "raw.email_events", "raw.crm_contacts", "raw.crm_consents", "raw.agents"):
        assert rows.get(table, 0) > 0, f"{table} is empty after lethe_ingest: {rows}"
    views = {r[0] for r in _query(pipeline.transformed / "warehouse.duckdb",
                                  "select table_name from information_schema.tables where table_schema = 'staging'")}
    assert {"stg_connect__contact_records", "stg_sendgrid__email_events"} <= views


def test_the_three_dags_build_marts_purge_and_publish(pipeline: Pipeline) -> None:
    home = pipeline.dags
    marts = {r[0] for r in _query(home.warehouse, "select table_name from information_schema.tables where table_schema = 'marts'")}
    assert {"retention_due", "fct_consent_status", "dim_subjects"} <= marts, marts
    purges = dict(_query(home.warehouse, "select status, count(*) from lethe_meta.purge_runs group by 1"))
    assert purges.get("done", 0) >= 1, purges
    events = [r.get("event") for r in read_jsonl(home.root / "audit" / "audit.jsonl")]
    assert "purge.planned" in events and "purge.completed" in events, events
    snapshot = home.root / "snapshot" / "current.duckdb"
    assert snapshot.exists(), "lethe_enforce published no serving snapshot"
    (as_of,) = _query(snapshot, "select as_of from main.snapshot_info")[0]
    assert as_of.isoformat().startswith("2026-03-01T00:00:00"), as_of
    dag_runs = {r[0] for r in _query(snapshot, "select dag_id from pipeline.runs")}
    assert {"lethe_ingest", "lethe_transform"} <= dag_runs  # both had finished when enforce published
    states = {(r["dag_id"], r["state"]) for r in read_jsonl(home.root / "runs" / "runs.jsonl")}
    assert {("lethe_ingest", "success"), ("lethe_transform", "success"), ("lethe_enforce", "success")} <= states


def test_requests_the_enforce_dag_fulfilled_show_as_done_on_the_dashboard(pipeline: Pipeline) -> None:
    """process_requests (an enforce task) exported, erased or applied requests; the snapshot the dashboard reads
    shows each done, with what Lethe did, and a request it could not act on as not done, saying why."""
    snapshot = pipeline.dags.root / "snapshot" / "current.duckdb"
    processed = dict(((t, r), o) for t, r, o in _query(
        pipeline.dags.warehouse, "select tenant_id, request_id, outcome from lethe_meta.dsr_processed"))
    shown = {(t, r): (s, o) for t, r, s, o in _query(
        snapshot, "select tenant_id, request_id, status, processing_outcome from marts.fct_dsr_requests")}
    fulfilled = {k for k, o in processed.items() if o in ("exported", "erased", "applied") and k in shown}
    assert {processed[k] for k in fulfilled} >= {"exported", "erased"}, processed
    assert all(shown[k] == ("done", processed[k]) for k in fulfilled), {k: shown[k] for k in fulfilled}
    for key, (status, outcome) in shown.items():
        assert outcome == processed.get(key), key
        if outcome in ("no_match", "ambiguous"):
            assert status != "done", key


def test_airflow_and_lethe_run_purge_the_same_records(pipeline: Pipeline) -> None:
    sql = ("select tenant_id, data_category, target, action, sum(rows) "
           "from lethe_meta.purge_counts group by all order by all")
    purged = _query(pipeline.dags.warehouse, sql)
    assert purged, "nothing was purged from a landing zone generated with overdue data"
    assert purged == _query(pipeline.cli.warehouse, sql)
    assert pipeline.dags.files() == pipeline.cli.files(), "the two runs left different landing files"


def test_airflow_and_lethe_run_publish_the_same_snapshot(pipeline: Pipeline) -> None:
    dags = table_state(pipeline.dags.root / "snapshot" / "current.duckdb", ("marts",))
    cli = table_state(pipeline.cli.root / "snapshot" / "current.duckdb", ("marts",))
    assert dags, "the snapshot has no marts"
    assert differences(dags, cli) == {}


# --- retry after a kill ------------------------------------------------------------------------

LOAD_STARTED = re.compile(r"starting task_id=\S+\.load map_index=\d+")


def _kill_mid_load(home: Home, loads_started: int = 4, timeout: float = 900) -> None:
    """Start `airflow dags test lethe_ingest`; SIGKILL its whole process group a moment after the
    `loads_started`-th load task began (earlier loads committed, this one is inside its transaction)."""
    log = home.root / "lethe_ingest.killed.log"
    with log.open("w") as fh:
        proc = subprocess.Popen([AIRFLOW, "dags", "test", "lethe_ingest", END], env=home.airflow.env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(LOAD_STARTED.findall(log.read_text(errors="replace"))) >= loads_started:
                time.sleep(1.0)
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"lethe_ingest finished before it could be killed; see {log}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_an_ingest_killed_mid_write_and_rerun_matches_a_clean_run(new_home, pipeline: Pipeline) -> None:
    """A new `airflow dags test` run (Airflow 3 gives it a new run id) after a SIGKILL: the manifest
    and the rows of a batch commit together, so the rerun loads exactly what the killed run had not."""
    home = new_home("killed")
    _kill_mid_load(home)
    partial = table_state(home.warehouse, ("raw",))
    assert partial != pipeline.ingested_raw, "the kill came too late to interrupt anything"
    home.dag("lethe_ingest")
    assert differences(table_state(home.warehouse, ("raw",)), pipeline.ingested_raw) == {}, f"killed at {partial}"


# --- a guard trip ------------------------------------------------------------------------------

def test_a_zero_day_policy_trips_the_guard_and_deletes_nothing(new_home, pipeline: Pipeline) -> None:
    """Only lethe_enforce runs, on a copy of the home lethe_transform left, under a policy with 0-day
    retention and a 1% purge_max_share: the share guard refuses. The copy still holds the generated
    erasure requests, which process_requests runs through the same engine and guards, so the first
    guarded step (process_requests, or check_guards when no request is pending) is the one that fails."""
    policy = pipeline.transformed.parent / "tenants-zero-retention.yml"
    text = re.sub(r"(interaction\.\w+|campaign\.event|crm\.contact):\s*\d+", r"\1: 0", pipeline.dags.policy.read_text())
    policy.write_text(re.sub(r"purge_max_share:\s*[\d.]+", "purge_max_share: 0.01", text))
    assert "purge_max_share: 0.01" in policy.read_text() and ": 0\n" in policy.read_text()
    home = new_home("guard_trip", copy_of=pipeline.transformed, policy_file=policy)
    raw_before, files_before = table_state(home.warehouse, ("raw",)), home.files()

    proc = home.dag("lethe_enforce", check=False)

    assert proc.returncode != 0, "lethe_enforce succeeded under a 0-day, 1% policy"
    failures = [r for r in read_jsonl(home.root / "runs" / "failures.jsonl") if r["dag_id"] == "lethe_enforce"]
    assert len(failures) == 1 and failures[0]["task_id"] in ("process_requests", "check_guards"), failures
    assert "GuardError" in failures[0]["reason"] and "purge_max_share" in failures[0]["reason"], failures[0]
    assert failures[0]["try_number"] == 1, "a guard trip must fail without retries"
    assert table_state(home.warehouse, ("raw",)) == raw_before, "rows were deleted after a guard trip"
    assert home.files() == files_before, "landing files were rewritten after a guard trip"
    runs = [r for r in read_jsonl(home.root / "runs" / "runs.jsonl") if r["dag_id"] == "lethe_enforce"]
    assert runs and runs[-1]["state"] == "failed"
    assert not (home.root / "snapshot" / "current.duckdb").exists(), "publish ran after a guard trip"
    refused = _query(home.warehouse, "select count(*) from lethe_meta.purge_runs where status = 'refused'")[0][0]
    assert refused == 1


def test_a_bad_policy_file_fails_one_task_with_one_line_and_loads_nothing(new_home) -> None:
    """Before, every mapped load task (one per family and tenant) failed with the same PolicyError: an engineer
    saw a wall of identical failures for one typo. Now check_policy reads the file first and fails alone."""
    good = new_home("good_policy").policy
    policy = good.parent / "tenants-typo.yml"
    policy.write_text(good.read_text().replace("purge_max_share:", "purge_max_shares:", 1))
    home = new_home("bad_policy", policy_file=policy)

    proc = home.dag("lethe_ingest", check=False)

    assert proc.returncode != 0, "lethe_ingest succeeded with an unknown key in the policy file"
    failures = [r for r in read_jsonl(home.root / "runs" / "failures.jsonl") if r["dag_id"] == "lethe_ingest"]
    assert [f["task_id"] for f in failures] == ["check_policy"], failures
    assert "PolicyError" in failures[0]["reason"] and "tenants-typo.yml" in failures[0]["reason"], failures[0]
    assert "purge_max_shares: unknown key" in failures[0]["reason"], failures[0]
    assert failures[0]["try_number"] == 1, "a bad policy file must fail without retries"
    loaded = table_state(home.warehouse, ("raw",)) if home.warehouse.exists() else {}
    assert all(count == 0 for count, _ in loaded.values()), f"rows loaded under a bad policy: {loaded}"


# --- backfill ----------------------------------------------------------------------------------

def test_later_intervals_of_a_backfill_load_nothing_twice(pipeline: Pipeline) -> None:
    first, *later = pipeline.raw_after_each_interval
    assert len(later) == len(BACKFILL) - 1
    for logical_date, state in zip(BACKFILL[1:], later, strict=True):
        assert differences(state, first) == {}, f"lethe_ingest at {logical_date} changed the raw layer"


def test_a_backfill_ends_where_one_run_at_the_last_interval_does(pipeline: Pipeline) -> None:
    runs = [(r["dag_id"], r["data_interval_end"][:10]) for r in read_jsonl(pipeline.dags.root / "runs" / "runs.jsonl")
            if r["state"] == "success"]
    assert runs[:3] == [("lethe_ingest", d[:10]) for d in BACKFILL], runs
    dags = table_state(pipeline.dags.warehouse)
    assert any(name.startswith("marts.") for name in dags) and any(name.startswith("raw.") for name in dags)
    assert differences(table_state(pipeline.dags.warehouse), table_state(pipeline.cli.warehouse)) == {}
