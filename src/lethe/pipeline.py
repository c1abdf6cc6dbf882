"""`lethe run`: the same steps as the Airflow DAGs, in the same order, without Airflow."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from lethe.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What each step printed, and how long it took."""

    steps: list[tuple[str, float, str]] = field(default_factory=list)

    def render(self) -> str:
        lines = []
        for name, seconds, text in self.steps:
            lines.append(f"== {name} ({seconds:.1f} s)")
            if text:
                lines.append(text)
        return "\n".join(lines)


@dataclass(frozen=True)
class BuildAllResult:
    """The dbt build and the withdrawal-risk model trained on its features."""

    dbt: object
    risk: object

    def render(self) -> str:
        return f"{self.dbt.render()}\n{self.risk.render()}"


def build_all(settings: Settings, *, full_refresh: bool = False) -> BuildAllResult:
    """`lethe build`: every dbt model and test, then the withdrawal-risk model on the fresh features.

    full_refresh rebuilds the incremental models from the raw layer too (see lethe.build.run_build) and refits
    the risk model even if its training rows are unchanged (see lethe.risk.train).
    """
    from lethe.build import run_build
    from lethe.risk import train_and_score

    dbt = run_build(settings, full_refresh=full_refresh)
    return BuildAllResult(dbt=dbt, risk=train_and_score(settings, refit=full_refresh))


def run_all(settings: Settings) -> RunResult:
    """Ingest, build (dbt and the risk model), data-subject requests, purge, publish."""
    from lethe.dsr import process_requests
    from lethe.ingest import run_ingest
    from lethe.publish import publish
    from lethe.purge import run_purge

    steps: list[tuple[str, float, str]] = []

    def step(name: str, func) -> None:
        start = time.perf_counter()
        out = func()
        elapsed = time.perf_counter() - start
        text = out.render() if hasattr(out, "render") else ("" if out is None else str(out))
        log.info("%s done in %.1f s", name, elapsed)
        steps.append((name, elapsed, text))

    step("ingest", lambda: run_ingest(settings, landing=settings.landing))
    step("build", lambda: build_all(settings))
    step("data-subject requests", lambda: process_requests(settings))
    step("purge", lambda: run_purge(settings, dry_run=False))
    step("publish", lambda: f"published {publish(settings)}")
    return RunResult(steps=steps)
