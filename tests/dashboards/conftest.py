"""Fixtures: a published scenario snapshot in a temporary LETHE_HOME, and a logged-in AppTest."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "dashboards"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

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


@pytest.fixture
def published(tmp_path, monkeypatch):
    """Settings of a temporary LETHE_HOME holding the scenario warehouse and its published snapshot."""
    import streamlit as st

    from lethe.publish import publish
    from lethe.settings import get_settings

    settings = scenario.build_warehouse(tmp_path / "home")
    publish(settings)
    monkeypatch.setenv("LETHE_HOME", str(settings.home))
    monkeypatch.setenv("LETHE_SECRET_KEY", scenario.KEY)
    get_settings.cache_clear()
    st.cache_data.clear()
    yield settings
    get_settings.cache_clear()


def login(role: str, password: str | None = None):
    """An AppTest of the dashboard after logging in as the demo user of a role."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
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
