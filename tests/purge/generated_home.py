"""A small generated landing zone (three tenants), ingested, built by dbt and published: what `lethe generate`,
`lethe ingest`, `lethe build` and `lethe publish` leave, for purge tests that need real dbt models."""

from __future__ import annotations

import shutil
from pathlib import Path

from lethe.settings import Settings, load_settings

AS_OF = "2026-11-01T00:00:00Z"
SECRET = "generated-home-secret"
NO_HOLDS = "cobalt-insurance"  # its legal holds are left out of the landing zone


def settings_for(root: Path) -> Settings:
    return load_settings({"LETHE_HOME": str(root / "home"), "LETHE_LANDING": str(root / "L"),
                          "LETHE_TENANTS": str(root / "L" / "tenants.yml"), "LETHE_AS_OF": AS_OF,
                          "LETHE_SECRET_KEY": SECRET})


def env_for(settings: Settings) -> dict[str, str]:
    """The environment a `lethe` process needs to work on this home."""
    return {"LETHE_HOME": str(settings.home), "LETHE_LANDING": str(settings.landing),
            "LETHE_TENANTS": str(settings.tenants_file), "LETHE_AS_OF": AS_OF, "LETHE_SECRET_KEY": SECRET}


def build(root: Path) -> Path:
    from lethe.build import run_build
    from lethe.ingest import run_ingest
    from lethe.publish import publish
    from lethe.synth.generator import generate

    generate(out=root / "L", subjects=150, end=AS_OF)
    shutil.rmtree(root / "L" / NO_HOLDS / "crm" / "legal_holds")
    settings = settings_for(root)
    run_ingest(settings, landing=settings.landing)
    run_build(settings)
    publish(settings)
    return root


def copy(built: Path, dest: Path) -> Settings:
    shutil.copytree(built, dest)
    return settings_for(dest)
