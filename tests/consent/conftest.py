"""A warehouse built once from the named consent scenario (tests/consent/scenario.py) by `lethe build`."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from lethe.keys import keyed_hash

from .scenario import AS_OF, REFRESH_DAYS, TENANT, scenario_rows, write_raw

SECRET = "consent-scenario-key"
LETHE = str(Path(sys.executable).with_name("lethe"))


@dataclass(frozen=True)
class BuiltScenario:
    """Where the scenario's state lives and how to run `lethe` against it."""

    home: Path
    env: dict[str, str]

    def lethe(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([LETHE, *args], env=self.env, capture_output=True, text=True, timeout=600)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(self.home / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    @staticmethod
    def key(contact_id: str) -> str:
        """The subject key of a scenario contact (each contact is its own Individual's anchor)."""
        return keyed_hash(SECRET.encode(), TENANT, "contact", contact_id)

    def who(self) -> dict[str, str]:
        """subject_key -> scenario contact id, to name subjects in assertions."""
        return {self.key(c["id"]): c["id"] for c in scenario_rows()["crm_contacts"]}


@pytest.fixture(scope="session")
def consent_scenario(tmp_path_factory: pytest.TempPathFactory) -> BuiltScenario:
    root = tmp_path_factory.mktemp("consent")
    home = root / "home"
    home.mkdir()
    tenants = root / "tenants.yml"
    tenants.write_text(
        f"tenants:\n  {TENANT}:\n    controller: ACME Energy Ltd\n    consent_refresh_days: {REFRESH_DAYS}\n"
    )
    write_raw(home / "warehouse.duckdb", scenario_rows())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LETHE_")},
        "LETHE_HOME": str(home),
        "LETHE_TENANTS": str(tenants),
        "LETHE_SECRET_KEY": SECRET,
        "LETHE_AS_OF": AS_OF + "Z",
    }
    built = BuiltScenario(home=home, env=env)
    result = built.lethe("build")
    assert result.returncode == 0, f"lethe build failed:\n{result.stderr}\n{result.stdout}"
    return built
