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
    result = run(["build", "--select", "no_such_model"], tmp_path, LETHE_SECRET_KEY="k")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "lethe: --select 'no_such_model' matches no model or test of the dbt project")
    assert "Traceback" not in result.stderr
