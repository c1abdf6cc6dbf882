"""How `make test` splits the suite across pytest-xdist workers.

A worker runs each group of tests whole, so a module- or session-scoped fixture is built once per group:
a directory whose session fixtures serve several modules is one group (the Airflow homes of tests/dags;
the generated, built and published home that tests/dashboards and tests/status share; the built
scenarios of tests/consent and tests/risk), every other module is its own group. The slowest groups are
queued first, so that no worker is left with one of them at the end.

The grouping is a scheduler of our own (`pytest_xdist_make_scheduler`) rather than xdist's `loadgroup`:
loadgroup renames each test's node id, which pytest 9.2 no longer lets a plugin do, so it silently
spreads a module's tests over both workers (and builds its fixtures twice). A run without xdist is
unaffected.
"""

from __future__ import annotations

import os
import sys

import pytest

# An xdist worker runs under execnet, whose __main__ has neither __spec__ nor __file__. pyspark (which Great
# Expectations imports) takes that for a doctest run and calls sys.exit(0) on import: give it a file name.
if os.environ.get("PYTEST_XDIST_WORKER") and not hasattr(sys.modules["__main__"], "__file__"):
    sys.modules["__main__"].__file__ = "<pytest-xdist worker>"

# tests/<directory> -> group, for directories whose session-scoped fixtures serve more than one module
SHARED = {"dags": "airflow", "dashboards": "real_home", "status": "real_home", "consent": "consent",
          "risk": "risk", "synth": "synth"}
# slowest first, as measured by `make test --durations`: the Airflow end-to-end fixture (6-8 min), the Spark
# build (2-2.5 min), the real home the dashboard and status tests share (1 min)
FIRST = ("airflow", "tests/dbt/test_spark.py", "real_home")


@pytest.fixture(scope="session", autouse=True)
def shared_unit_tests_record(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every home this run builds (in-process, through the CLI and through Airflow) shares one record of the dbt
    unit tests passing (lethe.build.UNIT_TESTS_RECORD_DIR): their outcome depends on the project and the versions
    only, so the run's first full build runs them and the other homes' builds leave them out. tests/dbt checks
    that they pass, on DuckDB and on Spark, and what a home of its own does."""
    from lethe.build import UNIT_TESTS_RECORD_DIR

    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "unit-tests-record"
    os.environ[UNIT_TESTS_RECORD_DIR] = str(folder)


def group_of(nodeid: str) -> str:
    """The group of a test, from its node id (`tests/<dir>/<module>.py::<test>`)."""
    module = nodeid.split("::", 1)[0]
    parts = module.split("/")
    return SHARED.get(parts[1], module) if len(parts) > 2 and parts[0] == "tests" else module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers' collection order is the order groups are queued in
        rank = {name: i for i, name in enumerate(FIRST)}
        items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(FIRST)))


def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN201 - only called when xdist is installed
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """xdist's loadscope with our groups as scopes, queued in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False
    return GroupScheduling(config, log)
