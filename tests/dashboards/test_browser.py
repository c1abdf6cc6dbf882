"""A real browser (Debian's chromium through Playwright) logs in as each role and visits each page."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import scenario
from conftest import PASSWORDS, ROOT, VISIBLE

from lethe.publish import publish

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
TITLES = {
    "overview": ("Overview", "Records past due", "2"),
    "retention": ("Retention", "Records past due", "2"),
    "consent": ("Consent", "Consent coverage", None),
    "risk": ("Withdrawal risk", None, None),
    "audiences": ("Audiences", "Eligible subjects", None),
    "requests": ("Data-subject requests", "Overdue requests", "1"),
    "intake": ("Data intake", "Rows loaded", "43"),
    "quality": ("Data quality and runs", "Failed tasks", "1"),
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed (make chromium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser") / "home"
    settings = scenario.build_warehouse(home)
    publish(settings)
    port = free_port()
    env = {**os.environ, "LETHE_HOME": str(home), "LETHE_SECRET_KEY": scenario.KEY}
    lethe = Path(sys.executable).with_name("lethe")
    proc = subprocess.Popen(
        [str(lethe), "dashboard", "--headless", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)  # noqa: S310
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the dashboard did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])
    yield url
    os.killpg(proc.pid, 15)
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.mark.parametrize("role", ["manager", "marketing", "dpo", "engineer"])
def test_role_logs_in_and_sees_its_pages(server, browser, role, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(30_000)
    page.goto(server)
    page.get_by_role("textbox", name="Username").fill(role)
    page.get_by_role("textbox", name="Password").fill(PASSWORDS[role])
    page.get_by_role("button", name="Login").click()
    page.get_by_text("Data as of 2026-03-01 00:00 UTC").wait_for()
    for name, (title, label, value) in TITLES.items():
        if name not in VISIBLE[role]:
            assert page.get_by_role("link", name=title, exact=True).count() == 0
            continue
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
        heading = "Compliance overview" if name == "overview" else title
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        page.get_by_text("Data as of 2026-03-01 00:00 UTC").wait_for()
        if label and value:
            metric = page.locator('[data-testid="stMetric"]', has_text=label).first
            metric.wait_for()
            assert value in metric.inner_text()
        page.screenshot(path=str(ARTIFACTS / f"{role}-{name}.png"), full_page=True)
    if role in {"marketing", "dpo"}:
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Audiences", exact=True).click()
        page.get_by_role("button", name="Download audience CSV").wait_for()
        with page.expect_download() as dl:
            page.get_by_role("button", name="Download audience CSV").click()
        target = tmp_path / "audience.csv"
        dl.value.save_as(target)
        lines = target.read_text().splitlines()
        assert lines[0] == "subject_key,address" and len(lines) >= 2
    page.close()
