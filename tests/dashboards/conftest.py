"""Fixtures: the real generated snapshot (built once per session), the small scenario, a logged-in AppTest."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "dashboards"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_home  # noqa: E402
import scenario  # noqa: E402

APP = str(ROOT / "dashboards" / "app.py")
PASSWORDS = {role: f"lethe-{role}" for role in ("manager", "marketing", "dpo", "engineer")}
PAGES = ["overview", "retention", "consent", "risk", "audiences", "requests", "intake", "quality"]
VISIBLE = {
    "manager": {"overview", "retention", "consent", "risk", "audiences", "requests", "intake"},
    "marketing": {"consent", "audiences"},
    "dpo": set(PAGES),
    "engineer": {"intake", "quality"},
}
MARKETING_TENANTS = ["acme-energy", "borealis-telecom"]


def _use_home(monkeypatch, home: Path, key: str, env: dict[str, str] | None = None) -> None:
    import streamlit as st

    from lethe.settings import get_settings

    monkeypatch.setenv("LETHE_HOME", str(home))
    monkeypatch.setenv("LETHE_SECRET_KEY", key)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="session")
def real_home_dir(tmp_path_factory) -> Path:
    """A LETHE_HOME generated (150 subjects), ingested, built and published at 2026-11-01 by the CLI."""
    return real_home.build(tmp_path_factory.getbasetemp())


@pytest.fixture
def real(real_home_dir, monkeypatch):
    """Settings of the real home, with the environment pointing at it (the app reads it)."""
    from lethe.settings import get_settings

    env = real_home.env_for(real_home_dir)
    _use_home(monkeypatch, real_home_dir, real_home.KEY, {"LETHE_TENANTS": env["LETHE_TENANTS"]})
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def published(tmp_path, monkeypatch):
    """Settings of a temporary LETHE_HOME holding the small scenario warehouse and its snapshot."""
    from lethe.publish import publish
    from lethe.settings import get_settings

    settings = scenario.build_warehouse(tmp_path / "home")
    publish(settings)
    _use_home(monkeypatch, settings.home, scenario.KEY)
    yield settings
    get_settings.cache_clear()


def snap(settings, sql: str, params=()):
    """One value straight from the snapshot file (independent of the app's code)."""
    con = duckdb.connect(str(settings.snapshot), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchone()[0]
    finally:
        con.close()


def login(role: str, password: str | None = None):
    """An AppTest of the dashboard after logging in as the demo user of a role."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.text_input[0].input(role)
    at.text_input[1].input(password or PASSWORDS[role])
    at.button[0].click()
    at.run()
    return at


def open_page(at, page: str):
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def count(n) -> str:
    """A count as the dashboard shows it."""
    return f"{int(n or 0):,}"
