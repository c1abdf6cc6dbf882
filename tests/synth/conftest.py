"""Synth fixtures: one small generated landing zone per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from lethe.synth import GenerateSummary, generate


@pytest.fixture(scope="session")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerateSummary]:
    """1500 subjects over two years, three tenants, seed 7."""
    out = tmp_path_factory.mktemp("synth") / "landing"
    return out, generate(out, tenants=3, subjects=1500, days=730, seed=7)
