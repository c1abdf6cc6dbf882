"""How the suite is split across workers by `make test` (pytest-xdist, `--dist loadgroup`).

Each test is put in a group that one worker runs whole, so that a fixture is built once per group:
a directory whose session fixtures are shared by several modules is one group (the Airflow homes of
tests/dags; the generated, built and published home that tests/dashboards and tests/status share),
every other module is its own group. Under loadgroup the slowest groups are queued first, so the
other worker is not left with them at the end. A run without xdist keeps the usual order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# directory -> group, for directories whose session-scoped fixtures serve more than one module
SHARED = {"dags": "airflow", "dashboards": "real_home", "status": "real_home", "consent": "consent",
          "risk": "risk", "synth": "synth"}
# measured slowest first (the Airflow end-to-end fixture ~6 min, Spark ~2.5 min, the real home ~1 min)
FIRST = ("airflow", "dbt/test_spark.py", "real_home")


def group_of(item: pytest.Item) -> str:
    path = Path(str(item.path)).resolve().relative_to(TESTS)
    return SHARED.get(path.parts[0], path.as_posix()) if len(path.parts) > 1 else path.as_posix()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group_of(item)))
    if getattr(config.option, "dist", "no") == "loadgroup":
        rank = {name: i for i, name in enumerate(FIRST)}
        items.sort(key=lambda item: rank.get(group_of(item), len(FIRST)))
