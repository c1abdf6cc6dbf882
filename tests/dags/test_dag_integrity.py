"""DAG integrity: every file in dags/ imports cleanly into a DAG that follows the house rules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from lethe.orchestration import MARTS_ASSET_URI, POOL, RAW_ASSET_URI, RUN_TIMEOUT, TASK_TIMEOUT

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"lethe_ingest", "lethe_transform", "lethe_enforce"}
# Tasks that only read (list landing folders, read the policy file); every other task writes the warehouse or the snapshot.
READ_ONLY_SUFFIXES = (".tenants", "check_policy")


def _writes(task_id: str) -> bool:
    return not task_id.endswith(READ_ONLY_SUFFIXES)


def test_every_dag_file_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED


def test_one_dag_per_file_named_after_its_dag_id(dagbag) -> None:
    files = sorted(p.stem for p in DAGS_DIR.glob("*.py"))
    assert files == sorted(EXPECTED)
    for dag in dagbag.dags.values():
        assert Path(dag.fileloc).stem == dag.dag_id


def test_dag_files_import_only_the_sdk_from_airflow() -> None:
    for path in DAGS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        airflow = {m for m in modules if m.split(".")[0] == "airflow"}
        assert airflow <= {"airflow.sdk"}, f"{path.name} imports {airflow - {'airflow.sdk'}}"
        assert not any(m.split(".")[0] in {"duckdb", "polars", "pandas", "dbt"} for m in modules), path.name


def _has_cycle(dag) -> bool:
    state: dict[str, int] = {}

    def visit(task_id: str) -> bool:
        if state.get(task_id) == 1:
            return True
        if state.get(task_id) == 2:
            return False
        state[task_id] = 1
        if any(visit(d) for d in dag.get_task(task_id).downstream_task_ids):
            return True
        state[task_id] = 2
        return False

    return any(visit(t) for t in dag.task_ids)


def test_no_cycles(dagbag) -> None:
    for dag in dagbag.dags.values():
        assert not _has_cycle(dag), dag.dag_id


def test_docs_tags_catchup_and_single_active_run(dagbag) -> None:
    for dag in dagbag.dags.values():
        module = ast.get_docstring(ast.parse(Path(dag.fileloc).read_text()))
        assert dag.doc_md and dag.doc_md.strip() == (module or "").strip(), dag.dag_id
        assert "lethe" in dag.tags and "writes-warehouse" in dag.tags, dag.dag_id
        assert dag.catchup is False, dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id
        assert dag.dagrun_timeout == RUN_TIMEOUT, dag.dag_id  # a hung run cannot hold the pool for good


def test_every_task_retries_and_records_its_failure(dagbag) -> None:
    from lethe.orchestration.callbacks import record_task_failure

    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} has no retries"
            assert task.execution_timeout == TASK_TIMEOUT, f"{dag.dag_id}.{task.task_id} may hang for good"
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert record_task_failure in callbacks, f"{dag.dag_id}.{task.task_id} records no failure"


def test_every_writer_runs_in_the_one_slot_pool(dagbag) -> None:
    writers = 0
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            if _writes(task.task_id):
                writers += 1
                assert task.pool == POOL, f"{dag.dag_id}.{task.task_id} writes outside pool {POOL}"
    assert writers > 20  # cosmos renders one task per dbt model and per model's tests


def test_ingest_is_one_group_per_family_mapped_over_tenants(dagbag) -> None:
    from lethe.ingest import FAMILIES

    dag = dagbag.dags["lethe_ingest"]
    for family in FAMILIES:
        load = dag.get_task(f"{family}.load")
        assert load.pool == POOL
        assert "MappedOperator" in type(load).__name__, f"{family}.load is not mapped over tenants"
        assert f"{family}.tenants" in load.upstream_task_ids
        assert "check_policy" in dag.get_task(f"{family}.tenants").upstream_task_ids, "loads before the policy is read"
        assert "build_staging" in load.downstream_task_ids
    outlets = [a.uri for a in dag.get_task("build_staging").outlets]
    assert outlets == [RAW_ASSET_URI]


def test_assets_chain_the_three_dags(dagbag) -> None:
    transform = dagbag.dags["lethe_transform"]
    enforce = dagbag.dags["lethe_enforce"]
    assert RAW_ASSET_URI in repr(transform.timetable.asset_condition)
    assert MARTS_ASSET_URI in repr(enforce.timetable.asset_condition)
    assert [a.uri for a in transform.get_task("train_risk").outlets] == [MARTS_ASSET_URI]


def test_every_dbt_model_is_a_task_building_it_with_its_tests_judged_at_the_runs_as_of(dagbag) -> None:
    """One task per model runs `dbt build` on it (its tests with it), in the order of the models' refs."""
    dag = dagbag.dags["lethe_transform"]
    ids = set(dag.task_ids)
    assert "dbt.retention_due_model_build" in ids
    assert not {t for t in ids if t.endswith((".run", ".test"))}, "a model or its tests has a task of its own again"
    assert any(t.startswith("dbt.stg_") for t in ids)
    build = dag.get_task("dbt.retention_due_model_build")
    assert build.base_cmd == ["build"]
    assert build.vars == {"as_of": "{{ ti.xcom_pull(task_ids='write_policy') }}"}
    assert "write_policy" in dag.get_task("dbt.stg_connect__contact_records_model_build").upstream_task_ids
    assert "dbt.fct_retention_status_model_build" in dag.get_task("dbt.retention_due_model_build").upstream_task_ids


def test_enforce_runs_guards_before_anything_is_deleted(dagbag) -> None:
    dag = dagbag.dags["lethe_enforce"]
    order = ["process_requests", "plan_purge", "check_guards", "execute_purge", "verify_purge", "publish"]
    for before, after in zip(order, order[1:], strict=False):
        assert after in dag.get_task(before).downstream_task_ids, f"{before} -> {after}"
    assert dag.get_task("execute_purge").upstream_task_ids == {"check_guards"}


@pytest.mark.slow
def test_ingest_schedule_is_hourly_unless_the_variable_says_otherwise(dagbag, airflow_home) -> None:
    assert dagbag.dags["lethe_ingest"].timetable.expression in ("@hourly", "0 * * * *")
    code = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"b = DagBag(dag_folder={str(DAGS_DIR / 'lethe_ingest.py')!r})\n"
        "print(b.dags['lethe_ingest'].timetable.expression)\n"
    )
    import os

    env = dict(os.environ, AIRFLOW_VAR_LETHE_INGEST_SCHEDULE="*/15 * * * *")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "*/15 * * * *"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_ids_are_documented_in_their_files(dag_id: str) -> None:
    text = (DAGS_DIR / f"{dag_id}.py").read_text()
    assert f'dag_id="{dag_id}"' in text


def test_a_missing_landing_zone_fails_the_tenants_task_at_once(dagbag, tmp_path, monkeypatch) -> None:
    """Before, the tenants task raised the ConfigError itself: Airflow retried each family twice, 30 s apart,
    with a traceback each time, for a problem no retry fixes."""
    from airflow.sdk.exceptions import AirflowFailException

    from lethe.orchestration import tasks
    from lethe.settings import get_settings

    monkeypatch.setenv("LETHE_LANDING", str(tmp_path / "nowhere"))
    monkeypatch.setattr(tasks, "current_as_of", lambda: "2026-11-01T00:00:00+00:00")
    get_settings.cache_clear()
    try:
        task = dagbag.dags["lethe_ingest"].get_task("email_events.tenants")
        with pytest.raises(AirflowFailException, match="ConfigError: .*nowhere"):
            task.python_callable(family="email_events")
    finally:
        get_settings.cache_clear()



def _dbt_build(project: Path, sql: str):
    """A real dbtRunnerResult of `dbt build` on a one-model project whose model is this SQL, with a unique test on
    its id (what a model's task runs)."""
    from dbt.cli.main import dbtRunner

    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: probe\nversion: '1.0.0'\nprofile: probe\n")
    (project / "profiles.yml").write_text(
        f"probe:\n  target: t\n  outputs:\n    t:\n      type: duckdb\n      path: '{project / 'probe.duckdb'}'\n")
    (project / "models" / "m.sql").write_text(sql)
    (project / "models" / "m.yml").write_text(
        "models:\n  - name: m\n    columns:\n      - name: id\n        data_tests: [unique]\n")
    args = ["--quiet", "--project-dir", str(project), "--profiles-dir", str(project)]
    return dbtRunner().invoke(["build", *args])


def test_a_dbt_test_that_finds_failing_rows_fails_at_once_and_an_error_is_retried(dagbag, tmp_path) -> None:
    """A data test that fails fails the same way on each retry: Airflow ran it three times, 30 s apart, before the
    grid showed it failed. A model's task whose tests find failing rows fails at once now, its message naming the
    test; an error (here SQL the warehouse refuses; a warehouse another process holds, say) keeps the retries."""
    from airflow.sdk.exceptions import AirflowFailException
    from cosmos.exceptions import CosmosDbtRunError

    task = dagbag.dags["lethe_transform"].get_task("dbt.retention_due_model_build")
    assert task.retries == 2

    with pytest.raises(AirflowFailException, match="unique_m_id.*a retry would too"):
        task.handle_exception(_dbt_build(tmp_path / "fails", "select 1 as id union all select 1"))

    errored = _dbt_build(tmp_path / "errs", "select id from no_such_table")
    assert not errored.success
    with pytest.raises(CosmosDbtRunError) as raised:
        task.handle_exception(errored)
    assert not isinstance(raised.value, AirflowFailException)

    assert task.handle_exception(_dbt_build(tmp_path / "passes", "select 1 as id")) is None
