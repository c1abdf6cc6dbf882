"""The CLI turns user errors into one line on stderr and a non-zero exit, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

LETHE = [sys.executable, "-m", "lethe.cli"]


def run(args, tmp_path: Path, **env):
    environ = {**os.environ, "LETHE_HOME": str(tmp_path / "home"), **env}
    return subprocess.run(LETHE + args, capture_output=True, text=True, env=environ, timeout=120)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["generate"], "--out"),
        (["purge", "--bogus"], "unrecognized arguments: --bogus"),
        (["audience", "--tenant", "a", "--purpose", "x", "--channel", "fax"], "invalid choice: 'fax'"),
        (["dsar", "export", "--tenant", "a", "--email", "a@b.c", "--phone", "1", "--format", "json", "--out", "x"], "not allowed with"),
        (["ingest", "--as-of", "tomorrow-ish"], "'tomorrow-ish' is not an ISO 8601"),
        (["--as-of", "tomorrow-ish", "ingest"], "'tomorrow-ish' is not an ISO 8601"),  # before the command, too
        (["status", "--as-of", "0001-01-01T00:00:00+05:00"], "is out of range (years 1900 to 9998)"),
        (["status", "--as-of", "9999-12-31T23:59:59-05:00"], "is out of range (years 1900 to 9998)"),
        (["generate", "--out", "g", "--subjects", "30", "--as-of", "0001-01-01T00:00:00+05:00"], "out of range"),
        (["bogus"], "(see 'lethe --help')"),
        (["dsar", "export", "--tenant", "a"], "(see 'lethe dsar export --help')"),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, args, expected):
    result = run(args, tmp_path)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_invalid_policy_file_is_refused_before_anything_runs(tmp_path):
    bad = tmp_path / "tenants.yml"
    bad.write_text("tenants:\n  a:\n    retention:\n      crm.contact: 10\n")
    result = run(["build"], tmp_path, LETHE_TENANTS=str(bad))
    assert result.returncode == 1
    assert f"{bad}: tenants.a.controller: missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_build_selection_that_matches_nothing_is_an_error_not_an_empty_success(tmp_path):
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "landing"
    assert run(["ingest", "--landing", str(fixtures)], tmp_path, LETHE_SECRET_KEY="k").returncode == 0  # else: nothing ingested
    result = run(["build", "--select", "no_such_model"], tmp_path, LETHE_SECRET_KEY="k")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "lethe: --select 'no_such_model' matches no model or test of the dbt project")
    assert "Traceback" not in result.stderr


def test_a_warehouse_another_process_holds_is_one_line_not_a_traceback(tmp_path):
    """DuckDB has one writer at a time: a command run while the pipeline holds the warehouse says so."""
    import duckdb

    from lethe.settings import load_settings
    from lethe.warehouse import connect

    connect(load_settings({"LETHE_HOME": str(tmp_path / "home"), "LETHE_SECRET_KEY": "k"})).close()
    holder = duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"))  # this process holds the lock
    try:
        for args in (["ingest", "--landing", str(Path(__file__).resolve().parents[1] / "fixtures" / "landing")],
                     ["purge", "--dry-run"]):
            result = run(args, tmp_path, LETHE_SECRET_KEY="k")
            assert result.returncode == 1, result.stderr
            assert result.stderr.startswith(f"lethe: {tmp_path / 'home' / 'warehouse.duckdb'}: in use by another "
                                            f"process (PID {os.getpid()})")
            assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    finally:
        holder.close()


def test_a_stale_lethe_as_of_does_not_fail_a_command_whose_flag_overrides_it(tmp_path):
    result = run(["status", "--as-of", "2026-11-01"], tmp_path, LETHE_AS_OF="garbage")
    assert "no snapshot published yet" in result.stderr  # got as far as the snapshot: the flag won
    result = run(["status"], tmp_path, LETHE_AS_OF="garbage")
    assert result.stderr.strip() == "lethe: LETHE_AS_OF: 'garbage' is not an ISO 8601 date or time"


def test_an_output_file_that_cannot_be_written_is_named_as_the_user_gave_it(tmp_path):
    """`--out /proc/x.json`: the error named the hidden temporary file the write goes through (/proc/.x.json.tmp)."""
    from lethe.fsutil import write_atomic

    with pytest.raises(OSError) as caught:
        write_atomic(Path("/proc/lethe-export.json"), b"{}")
    assert caught.value.filename == "/proc/lethe-export.json" and caught.value.strerror
