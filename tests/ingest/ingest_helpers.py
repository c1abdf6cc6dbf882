"""Helpers for ingest tests: a copy of the hand-written landing zone, a throwaway LETHE_HOME, queries."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from lethe.settings import Settings, load_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "landing"
TENANT = "acme-energy"


def make_settings(home: Path) -> Settings:
    return load_settings({"LETHE_HOME": str(home), "LETHE_SECRET_KEY": "test-key", "LETHE_AS_OF": "2024-02-01T00:00:00Z"})


def copy_landing(dest: Path) -> Path:
    shutil.copytree(FIXTURES, dest)
    return dest


def fresh_home(tmp_path_factory, name: str) -> tuple[Settings, Path]:
    """A throwaway home and its own copy of the hand-written landing zone, to add bad deliveries to."""
    root = tmp_path_factory.mktemp(name)
    return make_settings(root / "home"), copy_landing(root / "landing")


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
