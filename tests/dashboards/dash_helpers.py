"""Helpers shared by the dashboard tests: the app, demo users, login, page switching, snapshot reads."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "dashboards"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

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


def use_home(monkeypatch, home: Path, key: str, env: dict[str, str] | None = None) -> None:
    """Point the settings and the app at a LETHE_HOME, with fresh caches."""
    import streamlit as st

    from lethe.settings import get_settings

    monkeypatch.setenv("LETHE_HOME", str(home))
    monkeypatch.setenv("LETHE_SECRET_KEY", key)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()


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
