"""Fixtures for data-subject-rights tests: the purge scenario (tests/purge/purge_scenario.py), copied per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "purge"))

from purge_scenario import base, copy_home  # noqa: E402

from lethe.settings import Settings  # noqa: E402


@pytest.fixture
def scenario(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Settings:
    return copy_home(base(tmp_path_factory), tmp_path / "s")
