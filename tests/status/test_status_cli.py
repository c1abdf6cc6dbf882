"""`lethe status --json`: the Overview's KPIs as an object of numbers; one clear line when nothing is published."""

import json
import subprocess

import duckdb
import real_home
from streamlit.testing.v1 import AppTest

from lethe import status

APP = str(real_home.Path(__file__).resolve().parents[2] / "dashboards" / "app.py")


def lethe_status(home, *args, tenants_file=True):
    env = real_home.env_for(home)
    if not tenants_file:
        env.pop("LETHE_TENANTS")  # the project's example policy file
    return subprocess.run([real_home.LETHE, "status", *args], env=env, capture_output=True, text=True)  # noqa: S603


def test_status_json_is_an_object_of_numbers_for_every_kpi_and_tenant(status_home):
    proc = lethe_status(status_home, "--json")
    assert proc.returncode == 0, proc.stderr
    kpis = json.loads(proc.stdout)
    assert isinstance(kpis, dict) and all(isinstance(v, int | float) for v in kpis.values())
    # counts are whole numbers, printed as JSON integers (11, not 11.0); percentages stay numbers with a decimal
    for key, value in kpis.items():
        assert isinstance(value, float if status.BY_NAME[key.split(".")[0]].percent else int), (key, value)
    assert [k for k in kpis if "." not in k] == [k.name for k in status.KPIS]
    for tenant in ("acme-energy", "borealis-telecom", "cobalt-insurance"):
        assert {f"{k.name}.{tenant}" for k in status.KPIS} <= set(kpis)
    # the centre's own folder (agents, breach register) is no client: only what is counted of it, not twelve zeros
    assert [k for k in kpis if k.endswith("._centre")] == ["quarantined_rows._centre"]
    # totals are the sum of the tenants (counts), and agree with the snapshot read directly
    for k in status.KPIS:
        if not k.percent:
            assert kpis[k.name] == sum(v for key, v in kpis.items() if key.startswith(k.name + ".")), k.name
    con = duckdb.connect(str(status_home / "snapshot" / "current.duckdb"), read_only=True)
    try:
        assert kpis["records_past_due"] == con.execute(
            "select count(*) from marts.retention_due where days_past_due > 0").fetchone()[0] > 0
        assert kpis["dsr_overdue"] == con.execute(
            "select count(*) from marts.fct_dsr_requests where status = 'overdue'").fetchone()[0]
        assert kpis["open_violations"] == con.execute("select count(*) from marts.fct_violations").fetchone()[0]
    finally:
        con.close()


def test_status_equals_what_the_overview_shows(status_home, monkeypatch):
    import streamlit as st

    from lethe.settings import get_settings

    kpis = json.loads(lethe_status(status_home, "--json").stdout)
    for name, value in real_home.env_for(status_home).items():
        if name.startswith("LETHE_"):
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.text_input[0].input("manager")
    at.text_input[1].input("lethe-manager")
    at.button[0].click()
    at.run()
    at.switch_page("app_pages/overview.py")
    at.run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    for k in status.KPIS:
        want = f"{kpis[k.name]:.1f} %" if k.percent else f"{int(kpis[k.name]):,}"
        assert shown[k.label] == want, k.name
    get_settings.cache_clear()


def test_status_without_a_snapshot_fails_with_one_line(tmp_path):
    proc = lethe_status(tmp_path / "empty-home", "--json", tenants_file=False)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == "lethe: no snapshot published yet: run lethe run or lethe publish\n"


def test_status_text_lists_every_kpi(status_home):
    proc = lethe_status(status_home)
    assert proc.returncode == 0
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert names[: len(status.KPIS)] == [k.name for k in status.KPIS]


def test_status_at_another_as_of_than_the_snapshot_was_judged_at_is_refused_in_one_line(status_home):
    proc = lethe_status(status_home, "--json", "--as-of", "2030-01-01T00:00:00Z")
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "not at the as-of asked for (2030-01-01T00:00:00Z)" in line and "judged at " in line
    assert proc.stdout == ""


def test_status_does_not_depend_on_the_servers_time_zone(tmp_path):
    """An untrained agent's contact 30 days minus 19 hours before as-of counts wherever the server runs."""
    import os

    import scenario

    settings = scenario.published_with_late_untrained_agent(tmp_path / "home")
    env = {**os.environ, "LETHE_HOME": str(settings.home), "LETHE_SECRET_KEY": scenario.KEY}
    env.pop("LETHE_AS_OF", None)
    for tz in ("UTC", "Asia/Tokyo", "America/New_York"):
        proc = subprocess.run([real_home.LETHE, "status", "--json"], env={**env, "TZ": tz},  # noqa: S603
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        kpis = json.loads(proc.stdout)
        assert kpis["agents_without_valid_training"] == 2, tz
        assert kpis["agents_without_valid_training.acme-energy"] == 2, tz
