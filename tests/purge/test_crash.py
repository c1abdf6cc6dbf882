"""A purge SIGKILLed at any phase and run again ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from purge_scenario import base, copy_home, landing_digest, table_counts

from lethe.audit import read_entries, verify
from lethe.purge import run_purge
from lethe.settings import Settings

KILL_POINTS = [
    "planned", "after:tombstones", "raw:4", "raw:9",
    "landing:email_events",  # files rewritten (one holds a quarantined record dropped by position), phase not done
    "after:landing", "before:exports", "before:compact",
    "after:compact",  # the compacted file holds no derived table the rebuild recreates: the re-run rebuilds them
    "before:publish",
    "audited",  # the completion audited, the run not yet marked done: re-verified and audited again, never lost
]


def _state(settings: Settings) -> tuple:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        tombstones = sorted(con.execute("select tenant_id, kind, identity_hash from lethe_meta.tombstones").fetchall())
        ctr = sorted(con.execute("select contact_id, customer_address, recording_location from raw.contact_records").fetchall())
        derived = {
            f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]  # noqa: S608
            for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('intermediate', 'marts') order by all").fetchall()
        }
    finally:
        con.close()
    return landing_digest(settings), table_counts(settings), tombstones, ctr, derived


def _killed_run(settings: Settings, root: Path, point: str) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        import purge_scenario
        import lethe.purge.engine as engine
        from lethe.purge import run_purge

        def hook(name):
            if name == {point!r}:
                os.kill(os.getpid(), signal.SIGKILL)

        engine.HOOK = hook
        run_purge(purge_scenario.make_settings(Path({str(root)!r})), dry_run=False)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    settings = copy_home(base(tmp_path_factory), tmp_path_factory.mktemp("reference"))
    run_purge(settings, dry_run=False)
    return _state(settings)


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_purge_rerun_converges(point: str, reference: tuple, tmp_path_factory, tmp_path: Path) -> None:
    settings = copy_home(base(tmp_path_factory), tmp_path / "s")
    killed = _killed_run(settings, tmp_path / "s", point)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_purge(settings, dry_run=False)
    assert _state(settings) == reference
    events = [e["event"] for e in read_entries(settings.audit_log)]
    checked = verify(settings)  # what `lethe audit verify` checks: chain, MACs, head, the warehouse's runs
    assert checked.entries == len(events) and checked.head_seq == len(events), checked.render()
    if point == "planned":
        assert "purge.abandoned" in events
    else:
        assert "purge.resumed" in events
    assert events[-1] == "purge.completed"
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:  # the landing phase's record of its writes is dropped once the run is done
        assert con.execute("select count(*) from lethe_meta.purge_landing_written").fetchone()[0] == 0
    finally:
        con.close()


# when a build ran (not what the row says): the record anchors' rows, the status's latest anchor stamp, its build record and the due list's
BUILD_STAMPS = ("row_inserted_at", "row_changed_at", "anchored_changed_through", "built_at", "previous_built_at",
                "status_built_at")


def _derived_rows(settings: Settings) -> dict[str, list]:
    """Every row of every derived table (intermediate and marts schemas) without build stamps, sorted."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        names = con.execute(
            "select table_schema, table_name, list(column_name order by ordinal_position) "
            "filter (where not list_contains(?, column_name)) from information_schema.tables "
            "join information_schema.columns using (table_schema, table_name) "
            "where table_schema in ('intermediate', 'marts') and table_type = 'BASE TABLE' "
            "and table_name not in ('withdrawal_risk_scores', 'withdrawal_risk_evaluation') "  # timestamped
            "group by all order by all", [list(BUILD_STAMPS)]
        ).fetchall()
        return {f"{s}.{t}": sorted(map(repr, con.execute(
            f'select {", ".join(chr(34) + c + chr(34) for c in cols)} from "{s}"."{t}"').fetchall()))  # noqa: S608
            for s, t, cols in names if cols}
    finally:
        con.close()


@pytest.mark.slow
def test_killed_between_compaction_and_rebuild_the_rerun_rebuilds_the_derived_tables(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """With a real dbt build: the compaction leaves out the derived tables the rebuild recreates, so a run killed
    right after it leaves a warehouse without them; the re-run rebuilds them to what an uninterrupted run has."""
    from lethe.build import run_build

    built = copy_home(base(tmp_path_factory), tmp_path / "built")
    con = duckdb.connect(str(built.warehouse))
    con.execute("drop table marts.retention_due")  # the hand-built mart: dbt builds the real one
    con.close()
    run_build(built)
    uninterrupted = copy_home(tmp_path / "built", tmp_path / "a")
    assert run_purge(uninterrupted, dry_run=False).derived == "rebuilt"
    settings = copy_home(tmp_path / "built", tmp_path / "b")
    killed = _killed_run(settings, tmp_path / "b", "after:compact")
    assert killed.returncode == -9, killed.stderr[-2000:]
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    left = {r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}
    con.close()
    assert "retention_due" not in left and "fct_retention_status" not in left
    result = run_purge(settings, dry_run=False)
    assert result.resumed and _derived_rows(settings) == _derived_rows(uninterrupted)
    assert _derived_rows(settings)["marts.retention_due"] == []


def _killed_in_files_phase(root: Path) -> subprocess.CompletedProcess:
    """A purge SIGKILLed at its first recording or transcript deletion: the manifest already marks every planned
    file purged (it does so before deleting), and they are all still on disk."""
    code = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        import purge_scenario
        import lethe.purge.engine as engine
        from lethe.purge import run_purge

        armed = []
        engine.HOOK = lambda name: armed.append(name) if name == "before:files" else None
        unlink = Path.unlink

        def killing_unlink(self, *args, **kwargs):
            if armed:
                os.kill(os.getpid(), signal.SIGKILL)
            return unlink(self, *args, **kwargs)

        Path.unlink = killing_unlink
        run_purge(purge_scenario.make_settings(Path({str(root)!r})), dry_run=False)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300)


@pytest.mark.slow
def test_an_ingest_after_a_killed_purge_loads_nothing_until_the_purge_is_finished(
    reference: tuple, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """`lethe run` and the ingest DAG ingest before they purge, so after a killed purge the next ingest ran before
    the run was resumed. It loaded the planned files the killed run had marked purged but not yet deleted as new
    deliveries: purged records came back into the raw layer, where the resumed run (its raw phase done) left them,
    and its verification then failed on every later purge. Ingest now loads nothing while a purge run is
    unfinished, and says so; once the purge is finished the next ingest goes on as usual."""
    from lethe.ingest import run_ingest

    settings = copy_home(base(tmp_path_factory), tmp_path / "s")
    killed = _killed_in_files_phase(tmp_path / "s")
    assert killed.returncode == -9, killed.stderr[-2000:]
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    [(run_id,)] = con.execute("select run_id from lethe_meta.purge_runs where status = 'running'").fetchall()
    con.close()

    held_back = run_ingest(settings, landing=settings.landing)

    assert held_back.loaded == 0 and not held_back.sources
    assert any(run_id in line and "interrupted purge" in line for line in held_back.not_loaded), held_back.not_loaded
    run_purge(settings, dry_run=False)
    assert _state(settings) == reference
    after = run_ingest(settings, landing=settings.landing)
    assert after.loaded == 0 and not any("interrupted purge" in line for line in after.not_loaded)
    assert _state(settings) == reference


@pytest.mark.slow
def test_lethe_run_after_a_killed_purge_finishes_it_before_it_ingests(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """`lethe run` finishes an interrupted purge run first, so its own ingest is not held back by it."""
    from lethe.build import run_build
    from lethe.pipeline import run_all

    settings = copy_home(base(tmp_path_factory), tmp_path / "s")
    con = duckdb.connect(str(settings.warehouse))
    con.execute("drop table marts.retention_due")  # the hand-built mart: dbt builds the real one
    con.close()
    run_build(settings)
    killed = _killed_in_files_phase(tmp_path / "s")
    assert killed.returncode == -9, killed.stderr[-2000:]

    result = run_all(settings)

    names = [name for name, _, _ in result.steps]
    assert names[:2] == ["interrupted purge", "ingest"], names
    ingest_report = dict((name, text) for name, _, text in result.steps)["ingest"]
    assert "interrupted purge" not in ingest_report, ingest_report
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    assert con.execute("select count(*) from lethe_meta.purge_runs where status = 'running'").fetchone() == (0,)
    con.close()
    assert "purge.resumed" in [e["event"] for e in read_entries(settings.audit_log)]


@pytest.mark.slow
def test_a_purge_killed_after_its_landing_and_file_phases_holds_no_ingest_back(
    reference: tuple, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """Only a run stopped while rewriting or deleting landing files holds ingest back: one stopped later (or whose
    verification keeps failing) left the landing zone and its manifest agreeing, and new data (an opt-out, a
    request) must keep coming in."""
    from lethe.ingest import run_ingest

    settings = copy_home(base(tmp_path_factory), tmp_path / "s")
    killed = _killed_run(settings, tmp_path / "s", "before:compact")
    assert killed.returncode == -9, killed.stderr[-2000:]

    summary = run_ingest(settings, landing=settings.landing)

    assert not any("interrupted purge" in line for line in summary.not_loaded), summary.not_loaded
    run_purge(settings, dry_run=False)
    assert _state(settings) == reference
