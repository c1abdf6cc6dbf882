"""Fixtures for dbt tests: settings on a temporary LETHE_HOME with a fixed key and as_of."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lethe.settings import Settings, load_settings

sys.path.insert(0, str(Path(__file__).parent))

from rawlayer import AS_OF, SECRET  # noqa: E402


@pytest.fixture
def dbt_settings(tmp_path: Path) -> Settings:
    """Settings on an empty temporary home, judged at AS_OF, with a known secret key."""
    home = tmp_path / "home"
    home.mkdir()
    return load_settings({"LETHE_HOME": str(home), "LETHE_SECRET_KEY": SECRET, "LETHE_AS_OF": AS_OF})
