"""A real LETHE_HOME built through the CLI (generate, ingest, build, publish) once per test session.

Shared by tests/dashboards and tests/status: the first caller builds it under pytest's session base
directory, later callers (any test directory) reuse it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

AS_OF = "2026-11-01T00:00:00Z"
KEY = "dashboard-test-key"
SUBJECTS = 150
LETHE = str(Path(sys.executable).with_name("lethe"))


def env_for(home: Path) -> dict[str, str]:
    """The environment every lethe process and the app use for this home."""
    return {
        **os.environ,
        "LETHE_HOME": str(home),
        "LETHE_SECRET_KEY": KEY,
        "LETHE_TENANTS": str(home / "landing" / "tenants.yml"),
        "LETHE_AS_OF": AS_OF,
    }


def _lethe(home: Path, *args: str) -> None:
    proc = subprocess.run([LETHE, *args, "--as-of", AS_OF], env=env_for(home), capture_output=True, text=True)  # noqa: S603
    if proc.returncode:
        pytest.fail(f"lethe {' '.join(args)} failed: {proc.stderr[-3000:]}")


def build(base: Path) -> Path:
    """The home under `base`, generated, ingested, built and published (once; reused afterwards)."""
    home = base / "lethe-real" / "home"
    done = home / ".built"
    if done.exists():
        return home
    home.mkdir(parents=True, exist_ok=True)
    _lethe(home, "generate", "--out", str(home / "landing"), "--subjects", str(SUBJECTS))
    _lethe(home, "ingest")
    _lethe(home, "build")
    _lethe(home, "publish")
    done.touch()
    return home
