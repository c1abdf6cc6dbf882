"""A purge SIGKILLed at any phase and run again ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from purge_scenario import base, copy_home, landing_digest, table_counts

from lethe.audit import read_entries, verify_chain
from lethe.purge import run_purge
from lethe.settings import Settings

KILL_POINTS = ["planned", "after:tombstones", "raw:4", "raw:9", "after:landing", "before:exports", "before:compact"]


def _state(settings: Settings) -> tuple:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        tombstones = sorted(con.execute("select tenant_id, kind, identity_hash from lethe_meta.tombstones").fetchall())
        ctr = sorted(con.execute("select contact_id, customer_address, recording_location from raw.contact_records").fetchall())
    finally:
        con.close()
    return landing_digest(settings), table_counts(settings), tombstones, ctr


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
    assert verify_chain(settings.audit_log) == len(events)
    if point == "planned":
        assert "purge.abandoned" in events
    else:
        assert "purge.resumed" in events
    assert events[-1] == "purge.completed"
