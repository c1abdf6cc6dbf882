"""Fixtures for data-subject-rights tests: the purge scenario (tests/purge/purge_scenario.py), copied per test."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "purge"))

from purge_scenario import ERIN, TENANT, base, copy_home, ingest  # noqa: E402

from lethe.settings import Settings  # noqa: E402


@pytest.fixture
def scenario(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Settings:
    return copy_home(base(tmp_path_factory), tmp_path / "s")


@pytest.fixture
def land_contacts() -> Callable[..., None]:
    """land_contacts(settings, file_name, *changes): land a Salesforce Contact export of one row per `changes`
    (Erin's row with those fields changed) into the scenario's landing zone, and ingest it."""

    def land(settings: Settings, name: str, *changes: dict[str, str]) -> None:
        folder = settings.landing / TENANT / "crm" / "contacts"
        with (folder / "contacts.csv").open(encoding="utf-8-sig", newline="") as f:
            erin = next(r for r in csv.DictReader(f) if r["Id"] == ERIN["id"])
        with (folder / name).open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(erin))
            writer.writeheader()
            writer.writerows({**erin, **change} for change in changes)
        ingest(settings)

    return land
