"""Fixtures: the real generated snapshot shared with tests/dashboards (built once per session)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "dashboards"))
sys.path.insert(0, str(ROOT / "dashboards"))

import real_home  # noqa: E402


@pytest.fixture(scope="session")
def status_home(tmp_path_factory) -> Path:
    """The generated, ingested, built and published LETHE_HOME (see tests/dashboards/real_home.py)."""
    return real_home.build(tmp_path_factory.getbasetemp())
