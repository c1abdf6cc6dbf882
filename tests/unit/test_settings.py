"""Settings come from the environment once; --as-of wins over LETHE_AS_OF; the key file is private."""

import stat
from datetime import UTC, datetime

import pytest

from lethe.errors import ConfigError
from lethe.keys import keyed_hash
from lethe.settings import DEFAULT_TENANTS_FILE, load_settings, parse_as_of


def test_defaults_live_under_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings({})
    assert s.home == tmp_path / ".lethe"
    assert s.landing == tmp_path / ".lethe" / "landing"
    assert s.warehouse == tmp_path / ".lethe" / "warehouse.duckdb"
    assert s.tenants_file == DEFAULT_TENANTS_FILE


def test_environment_overrides(tmp_path):
    s = load_settings(
        {
            "LETHE_HOME": str(tmp_path / "h"),
            "LETHE_LANDING": str(tmp_path / "l"),
            "LETHE_TENANTS": str(tmp_path / "t.yml"),
            "LETHE_AS_OF": "2026-01-02T03:04:05Z",
        }
    )
    assert s.landing == tmp_path / "l" and s.tenants_file == tmp_path / "t.yml"
    assert s.as_of == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_flag_wins_over_environment(tmp_path):
    s = load_settings({"LETHE_HOME": str(tmp_path), "LETHE_AS_OF": "2026-01-01"})
    assert s.with_as_of("2025-06-30T12:00:00+02:00").as_of == datetime(2025, 6, 30, 10, tzinfo=UTC)
    assert s.with_as_of(None).as_of == datetime(2026, 1, 1, tzinfo=UTC)


def test_bad_as_of_is_named():
    with pytest.raises(ConfigError, match="'yesterday' is not an ISO 8601"):
        parse_as_of("yesterday")


def test_generated_key_is_created_once_with_mode_0600(tmp_path):
    s = load_settings({"LETHE_HOME": str(tmp_path)})
    key = s.secret_key
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings({"LETHE_HOME": str(tmp_path)}).secret_key == key
    assert load_settings({"LETHE_HOME": str(tmp_path), "LETHE_SECRET_KEY": "k"}).secret_key == b"k"


def test_subject_keys_depend_on_the_key_and_tenant():
    a = keyed_hash(b"k1", "t", "email", "a@example.com")
    assert a == keyed_hash(b"k1", "t", "email", "a@example.com")
    assert a != keyed_hash(b"k2", "t", "email", "a@example.com")
    assert a != keyed_hash(b"k1", "u", "email", "a@example.com")
    assert "a@example.com" not in a


def test_a_home_lethe_creates_is_its_users_alone(tmp_path):
    """The warehouse holds every source's personal data in the clear: a LETHE_HOME that Lethe creates is mode
    0700, so no other local user can read it whatever the files' own modes; an existing home is left as it is."""
    from lethe.warehouse import connect

    connect(load_settings({"LETHE_HOME": str(tmp_path / "new" / "home"), "LETHE_SECRET_KEY": "k"})).close()
    assert stat.S_IMODE((tmp_path / "new" / "home").stat().st_mode) == 0o700
    _ = load_settings({"LETHE_HOME": str(tmp_path / "keyed")}).secret_key  # the generated key creates it too
    assert stat.S_IMODE((tmp_path / "keyed").stat().st_mode) == 0o700
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o750)
    connect(load_settings({"LETHE_HOME": str(existing), "LETHE_SECRET_KEY": "k"})).close()
    assert stat.S_IMODE(existing.stat().st_mode) == 0o750
