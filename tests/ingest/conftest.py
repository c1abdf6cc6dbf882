"""Fixtures for ingest tests: a copy of the hand-written landing zone and a throwaway LETHE_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_helpers import copy_landing, make_settings

from lethe.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return copy_landing(tmp_path / "landing")
