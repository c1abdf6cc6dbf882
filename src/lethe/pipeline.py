"""`lethe run`: the same steps as the Airflow DAGs, in the same order, without Airflow."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lethe.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What each step printed, and how long it took."""

    steps: list[tuple[str, float, str]] = field(default_factory=list)

    def render(self) -> str:
        return "\n".join(render_step(*s) for s in self.steps)


def render_step(name: str, seconds: float, text: str) -> str:
    """One step of `lethe run` as it prints it: a heading with its time, then what the step printed."""
    return f"== {name} ({seconds:.1f} s)" + (f"\n{text}" if text else "")


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


def run_all(settings: Settings, on_step: Callable[[str], None] | None = None) -> RunResult:
    """Ingest, build (dbt and the risk model), data-subject requests, purge, publish. `on_step` gets each step's
    report as soon as the step is done (`lethe run` prints it): when a later step fails, what the earlier ones did
    (an erasure carried out, say) has been said already."""
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
        if on_step is not None:
            on_step(render_step(name, elapsed, text))

    if _unfinished_purges(settings):  # before ingest, which loads nothing while one stands (lethe.ingest.run)
        step("interrupted purge", lambda: _finish_purges(settings))
    step("ingest", lambda: run_ingest(settings, landing=settings.landing))
    step("build", lambda: build_all(settings))
    step("data-subject requests", lambda: process_requests(settings))
    step("purge", lambda: run_purge(settings, dry_run=False))
    step("publish", lambda: f"published {publish(settings)}")
    return RunResult(steps=steps)


def _unfinished_purges(settings: Settings) -> list[str]:
    """The purge runs a kill or a crash left unfinished (none before the warehouse exists)."""
    from lethe.ingest.run import unfinished_purge_runs
    from lethe.warehouse import connect

    if not settings.warehouse.exists():
        return []
    con = connect(settings)
    try:
        return unfinished_purge_runs(con)
    finally:
        con.close()


def _finish_purges(settings: Settings) -> str:
    """Finish the interrupted purge runs (as `lethe purge` would first), so this run's ingest can load."""
    from lethe.purge import resume_unfinished

    return "finished " + ", ".join(resume_unfinished(settings))
