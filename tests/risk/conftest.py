"""Risk fixtures: a named scenario and a generated population, each built once per session in a temp home."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "dbt"))

import risk_population  # noqa: E402
import risk_scenario  # noqa: E402
from rawlayer import write_raw  # noqa: E402

from lethe.build import run_build  # noqa: E402
from lethe.settings import Settings, load_settings  # noqa: E402

SELECT = "+withdrawal_risk_features"


def _settings(home: Path, as_of: str) -> Settings:
    return load_settings({"LETHE_HOME": str(home), "LETHE_AS_OF": as_of, "LETHE_SECRET_KEY": "risk-test-key"})


@pytest.fixture(scope="session")
def scenario_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The named subjects (risk_scenario), built through dbt up to the features mart."""
    settings = _settings(tmp_path_factory.mktemp("risk-scenario"), risk_scenario.AS_OF)
    settings.home.mkdir(parents=True, exist_ok=True)
    write_raw(settings.warehouse, risk_scenario.scenario_rows())
    run_build(settings, select=SELECT)
    return settings


@pytest.fixture(scope="session")
def population_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[str]]:
    """1500 generated subjects with fatigue before withdrawal, built through dbt; and the objectors' Contact Ids."""
    settings = _settings(tmp_path_factory.mktemp("risk-population"), risk_population.AS_OF)
    settings.home.mkdir(parents=True, exist_ok=True)
    objectors = risk_population.write_population(settings.warehouse)
    run_build(settings, select=SELECT)
    return settings, objectors
