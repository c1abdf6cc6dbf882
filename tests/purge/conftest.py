"""Fixtures for purge tests: the named scenario, ingested once per session, copied for each test."""

from __future__ import annotations

from pathlib import Path

import pytest
from purge_scenario import base, copy_home

from lethe.settings import Settings


@pytest.fixture
def scenario(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Settings:
    return copy_home(base(tmp_path_factory), tmp_path / "s")
