"""A home keeps the key it was built with: another LETHE_SECRET_KEY is refused before anything runs, because
subject keys and erasure tombstones (keyed hashes) would silently stop matching and erased people come back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lethe.errors import ConfigError
from lethe.keys import keyed_hash
from lethe.settings import load_settings
from lethe.warehouse import connect

FIXTURE_LANDING = Path(__file__).resolve().parents[1] / "fixtures" / "landing"


def _settings(home: Path, key: str):
    return load_settings({"LETHE_HOME": str(home), "LETHE_SECRET_KEY": key})


def test_a_second_key_is_refused_for_writing_and_reading(tmp_path: Path) -> None:
    connect(_settings(tmp_path, "first-key")).close()
    connect(_settings(tmp_path, "first-key"), read_only=True).close()
    for read_only in (False, True):
        with pytest.raises(ConfigError, match="LETHE_SECRET_KEY is not the key .* was built with"):
            connect(_settings(tmp_path, "second-key"), read_only=read_only)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    (check,) = con.execute("select key_check from lethe_meta.key_check").fetchone()
    con.close()
    assert "first-key" not in check and len(check) == 64, "a one-way digest, never the key"


def test_a_warehouse_built_before_the_check_is_checked_against_its_subject_keys(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema intermediate")
    con.execute("create table intermediate.int_subject_identities_resolved as select 'acme-energy' as tenant_id, "
                "'contact' as identity_kind, '003A' as identity_value, ? as subject_key",
                [keyed_hash(b"old-key", "acme-energy", "contact", "003A")])
    con.close()
    with pytest.raises(ConfigError, match="was built with"):
        connect(_settings(tmp_path, "another-key"))
    connect(_settings(tmp_path, "old-key")).close()  # the right key: accepted and recorded from now on
    with pytest.raises(ConfigError):
        connect(_settings(tmp_path, "another-key"), read_only=True)


def test_the_cli_refuses_a_changed_key_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "LETHE_HOME": str(tmp_path / "home"), "LETHE_LANDING": str(FIXTURE_LANDING),
           "LETHE_AS_OF": "2024-02-01T00:00:00Z"}
    lethe = [sys.executable, "-m", "lethe.cli", "ingest"]
    first = subprocess.run(lethe, env={**env, "LETHE_SECRET_KEY": "k1"}, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(lethe, env={**env, "LETHE_SECRET_KEY": "k2"}, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1
    assert again.stderr.startswith("lethe: LETHE_SECRET_KEY is not the key ") and "Traceback" not in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
