"""The Airflow glue without a scheduler: as-of resolution, failure/run records, user errors failing fast."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from lethe.errors import GuardError
from lethe.orchestration import callbacks, tasks
from lethe.orchestration.interval import as_of_from_context


def test_a_scheduled_run_judges_at_its_data_interval_end() -> None:
    context = {"data_interval_end": datetime(2026, 3, 1, 6, 0, tzinfo=UTC), "triggering_asset_events": {}}
    assert as_of_from_context(context) == "2026-03-01T06:00:00+00:00"


def test_an_asset_triggered_run_judges_at_the_latest_upstream_as_of() -> None:
    events = {
        "lethe://warehouse/raw": [
            SimpleNamespace(extra={"as_of": "2026-03-01T05:00:00+00:00"}),
            SimpleNamespace(extra={"as_of": "2026-03-01T06:00:00+00:00"}),
        ]
    }
    context = {"data_interval_end": datetime(2026, 3, 2, tzinfo=UTC), "triggering_asset_events": events}
    assert as_of_from_context(context) == "2026-03-01T06:00:00+00:00"


def test_an_asset_run_without_interval_falls_back_to_run_after() -> None:
    run = SimpleNamespace(run_after=datetime(2026, 3, 1, 7, 30, tzinfo=UTC))
    assert as_of_from_context({"data_interval_end": None, "dag_run": run}) == "2026-03-01T07:30:00+00:00"


@pytest.fixture
def lethe_home(tmp_path, monkeypatch):
    from lethe.settings import get_settings

    monkeypatch.setenv("LETHE_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_a_failed_task_is_recorded_for_the_engineer_page(lethe_home) -> None:
    ti = SimpleNamespace(dag_id="lethe_enforce", task_id="check_guards", run_id="manual__1", try_number=1, map_index=-1)
    callbacks.record_task_failure({"ti": ti, "exception": GuardError("purge would remove 100% of raw.recordings")})
    [record] = callbacks.read_jsonl(lethe_home / "runs" / "failures.jsonl")
    assert record["dag_id"] == "lethe_enforce" and record["task_id"] == "check_guards"
    assert record["run_id"] == "manual__1" and record["try_number"] == 1
    assert record["reason"] == "GuardError: purge would remove 100% of raw.recordings"
    assert datetime.fromisoformat(record["at"]).tzinfo is not None


def test_finished_runs_are_recorded_with_their_state(lethe_home) -> None:
    run = SimpleNamespace(dag_id="lethe_ingest", run_id="scheduled__1", run_type="scheduled",
                          data_interval_end=datetime(2026, 3, 1, tzinfo=UTC), start_date=None, end_date=None)
    callbacks.record_run_success({"dag_run": run})
    callbacks.record_run_failure({"dag_run": run, "reason": "task_failure"})
    lines = (lethe_home / "runs" / "runs.jsonl").read_text().splitlines()
    states = [json.loads(line)["state"] for line in lines]
    assert states == ["success", "failed"]
    assert json.loads(lines[1])["reason"] == "task_failure"


def test_a_user_error_fails_the_task_without_retry(monkeypatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setattr(tasks, "current_as_of", lambda: "2026-03-01T00:00:00+00:00")

    def guarded(as_of: str, run_id: str) -> str:
        raise GuardError(f"run {run_id} at {as_of}: share 100% > 25% of raw.recordings")

    with pytest.raises(AirflowFailException, match="GuardError: run p1 at 2026-03-01T00:00:00"):
        tasks.run_step(guarded, "p1")


def test_other_errors_propagate_so_airflow_retries_them(monkeypatch, tmp_path) -> None:
    """A crash, and a warehouse another process holds: the busy warehouse is a LetheError (one clear line for the
    CLI), and every load task of the hourly run failed for good while someone ran `lethe dsar erase` by hand."""
    from lethe.errors import WarehouseBusyError
    from lethe.settings import load_settings
    from lethe.warehouse import connect

    monkeypatch.setattr(tasks, "current_as_of", lambda: "2026-03-01T00:00:00+00:00")

    def crashed(as_of: str) -> None:
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space"):
        tasks.run_step(crashed)

    settings = load_settings({"LETHE_HOME": str(tmp_path / "home"), "LETHE_SECRET_KEY": "k"})
    settings.home.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(60)", str(settings.warehouse)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"

        def load(as_of: str) -> None:
            connect(settings).close()

        with pytest.raises(WarehouseBusyError, match="in use by another process"):
            tasks.run_step(load)
    finally:
        holder.kill()
        holder.wait()


def test_a_backfill_never_rewinds_the_marts_to_an_older_as_of(lethe_home) -> None:
    """An ingest backfill of an old day emits the raw asset with that day's as-of. Before, the transform rebuilt
    every mart at it, and the enforce DAG published that over the newer snapshot: whoever unsubscribed since was
    back in the marketing audience. The transform judges at the last build's as-of when its own is older; the
    dbt tasks (the as-of write_policy returns), the risk scores and the marts asset all take it."""
    from lethe.build import last_build_as_of
    from lethe.orchestration import steps

    assert steps.write_policy("2026-11-01T00:00:00+00:00") == "2026-11-01T00:00:00"
    assert steps.write_policy("2026-06-01T00:00:00+00:00") == "2026-11-01T00:00:00"
    assert steps.not_before_last_build("2026-06-01T00:00:00+00:00") == "2026-11-01T00:00:00+00:00"
    assert last_build_as_of(steps.get_settings()) == datetime(2026, 11, 1, tzinfo=UTC)
    # a later run moves it on
    assert steps.write_policy("2026-11-02T00:00:00+00:00") == "2026-11-02T00:00:00"
    assert last_build_as_of(steps.get_settings()) == datetime(2026, 11, 2, tzinfo=UTC)


def test_an_ingest_backfill_builds_its_staging_layer_at_the_last_builds_as_of(lethe_home, monkeypatch) -> None:
    """The ingest DAG's staging build ran at the backfilled day and recorded it as the last build's as-of, so the
    transform that followed judged every mart at that old day after all."""
    import lethe.build
    from lethe.orchestration import steps

    assert steps.write_policy("2026-11-01T00:00:00+00:00") == "2026-11-01T00:00:00"
    judged = []

    class Built:
        def render(self) -> str:
            return "built"

    monkeypatch.setattr(lethe.build, "run_build", lambda settings, select=None: judged.append(settings.as_of) or Built())
    assert steps.build("2026-06-01T00:00:00+00:00", select="path:models/staging")["as_of"] == "2026-11-01T00:00:00+00:00"
    assert judged == [datetime(2026, 11, 1, tzinfo=UTC)]


def test_make_airflow_uses_the_policy_file_generated_with_the_demos_landing_zone(tmp_path) -> None:
    """`make airflow` after `make demo` ran the hourly DAGs with the project's config/tenants.yml (other retention
    and guards), while `make demo` judged the same landing zone by the policy file generated into it."""
    from lethe.orchestration.airflow_home import landing_policy_file

    landing = tmp_path / "landing"
    landing.mkdir()
    assert landing_policy_file({}, landing) is None  # no generated policy: the default stands
    (landing / "tenants.yml").write_text("tenants: {}\n")
    assert landing_policy_file({}, landing) == landing / "tenants.yml"
    assert landing_policy_file({"LETHE_TENANTS": "/etc/lethe/tenants.yml"}, landing) is None  # the user's choice wins
