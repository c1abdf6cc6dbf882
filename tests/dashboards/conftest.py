"""Fixtures: the real generated snapshot (built once per session) and the small scenario."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_home  # noqa: E402
import scenario  # noqa: E402
from dash_helpers import use_home  # noqa: E402


@pytest.fixture(scope="session")
def real_home_dir(tmp_path_factory) -> Path:
    """A LETHE_HOME generated (150 subjects), ingested, built and published at 2026-11-01 by the CLI."""
    return real_home.build(tmp_path_factory.getbasetemp())


@pytest.fixture
def real(real_home_dir, monkeypatch):
    """Settings of the real home, with the environment pointing at it (the app reads it)."""
    from lethe.settings import get_settings

    env = real_home.env_for(real_home_dir)
    use_home(monkeypatch, real_home_dir, real_home.KEY, {"LETHE_TENANTS": env["LETHE_TENANTS"]})
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def published(tmp_path, monkeypatch):
    """Settings of a temporary LETHE_HOME holding the small scenario warehouse and its snapshot."""
    from lethe.publish import publish
    from lethe.settings import get_settings

    settings = scenario.build_warehouse(tmp_path / "home")
    publish(settings)
    use_home(monkeypatch, settings.home, scenario.KEY)
    yield settings
    get_settings.cache_clear()
