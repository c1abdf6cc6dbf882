"""`lethe ingest` as a user runs it: the summary on stdout, nothing but warnings on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LETHE = Path(sys.executable).with_name("lethe")


@pytest.mark.slow
def test_ingest_stderr_has_no_great_expectations_info_lines(landing, tmp_path):
    env = {**os.environ, "LETHE_HOME": str(tmp_path / "home"), "LETHE_SECRET_KEY": "test-key",
           "LETHE_AS_OF": "2024-02-01T00:00:00Z"}
    done = subprocess.run([str(LETHE), "ingest", "--landing", str(landing)], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "rows loaded" in done.stdout
    assert "Created temporary directory" not in done.stderr
    assert " INFO " not in done.stderr, done.stderr
