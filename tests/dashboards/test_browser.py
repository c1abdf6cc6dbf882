"""A real browser (Debian's chromium through Playwright) logs in as each role and visits each page."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from dash_helpers import PASSWORDS, ROOT, VISIBLE
from playwright.sync_api import expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
AS_OF_TEXT = "Data as of 2026-11-01 00:00 UTC"
# page: (link title, heading, the key metric's label, SQL giving its value on the snapshot)
TITLES = {
    "overview": ("Overview", "Compliance overview", "Records past due",
                 "select count(*) from marts.retention_due where days_past_due > 0"),
    "retention": ("Retention", "Retention", "Records due", "select count(*) from marts.retention_due"),
    "consent": ("Consent", "Consent", "Valid marketing consents",
                "select count(*) from marts.fct_consent_status where is_marketing and is_valid and {scope}"),
    "risk": ("Withdrawal risk", "Withdrawal risk", None, None),
    "audiences": ("Audiences", "Audiences", "Eligible contacts",
                  "select count(*) from marts.audience_eligible where {scope}"),
    "requests": ("Data-subject requests", "Data-subject requests", "DSRs overdue",
                 "select count(*) from marts.fct_dsr_requests where status = 'overdue'"),
    "intake": ("Data intake", "Data intake", "Rows loaded", "select sum(rows_loaded) from intake.summary"),
    "quality": ("Data quality and runs", "Data quality and runs", "Failed tasks", "select count(*) from pipeline.failures"),
}


def expected(role: str, sql: str) -> str:
    scope = "tenant_id in ('acme-energy', 'borealis-telecom')" if role == "marketing" else "true"
    con = duckdb.connect(str(HOME[0] / "snapshot" / "current.duckdb"), read_only=True)
    try:
        return f"{int(con.execute(sql.format(scope=scope)).fetchone()[0] or 0):,}"
    finally:
        con.close()


HOME: list[Path] = []

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed (make chromium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(home: Path):
    """`lethe dashboard --headless` on `home`, on a free port, until the block ends: yields its URL."""
    import real_home

    port = free_port()
    lethe = Path(sys.executable).with_name("lethe")
    proc = subprocess.Popen(
        [str(lethe), "dashboard", "--headless", "--port", str(port)],
        env=real_home.env_for(home),
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
    try:
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def server(real_home_dir):
    HOME[:] = [real_home_dir]
    with serving(real_home_dir) as url:
        yield url


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


def settle(page) -> None:
    """Wait until the script has finished and every data grid has drawn its canvas."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)
    grids = page.locator('[data-testid="stDataFrame"]')
    for i in range(grids.count()):
        grid = grids.nth(i)
        grid.scroll_into_view_if_needed()
        grid.locator("canvas").first.wait_for(state="attached")
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    for i in range(charts.count()):
        charts.nth(i).locator("canvas, svg").first.wait_for(state="attached")
    # Streamlit scrolls inside its main container: back to the top, where the key number is
    page.evaluate("document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    page.wait_for_timeout(300)


def log_in(browser, url: str, role: str):
    """A new page on the dashboard at `url`, logged in as `role`, showing the data's as-of."""
    page = browser.new_page(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
    page.set_default_timeout(30_000)
    page.goto(url)
    idle = page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')
    login = page.get_by_role("button", name="Login")
    # the login's run computes the role's first page: on a machine the rest of the suite keeps busy (an Airflow run,
    # a Spark build) that once took more than 30 s. A click during a rerun the page's first load starts (the login
    # cookie's component reports its value) can be lost, the form left filled in and nothing running (CI saw it
    # once): as a user would, the test then logs in again, at most three times in all
    for attempt in range(3):
        idle.wait_for(timeout=90_000)
        if attempt and not login.is_visible():
            break  # the login went through; its page is drawn below
        page.get_by_role("textbox", name="Username").fill(role)
        page.get_by_role("textbox", name="Password").fill(PASSWORDS[role])
        login.click()
        try:
            # .first: the login's run draws the page, and the rerun the login cookie's setting starts draws it again;
            # until that run ends, the first run's elements stay on screen (faded) beside the new ones
            page.get_by_text(AS_OF_TEXT).first.wait_for(timeout=45_000)
            break
        except Exception:  # noqa: S112 - looked at again above: still running, or the click was lost
            continue
    try:
        page.get_by_text(AS_OF_TEXT).first.wait_for(timeout=90_000)
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"login-{role}-failed.png"), full_page=True)
        pytest.fail(f"{role} logged in but saw no '{AS_OF_TEXT}'; the page said: "
                    + page.locator("body").inner_text()[:1500])
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)
    return page


def test_the_requests_page_reads_as_a_report_not_a_developer_tool(server, browser):
    """What the DPO sees on the requests page: its three counts side by side, tables under readable headings, and
    no developer controls (Deploy). (The grid draws its cells on a canvas: test_app checks what it is given.)"""
    page = log_in(browser, server, "dpo")
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Data-subject requests", exact=True).click()
    page.get_by_role("heading", name="Data-subject requests", exact=True).wait_for()
    settle(page)
    assert page.get_by_text("Deploy", exact=True).count() == 0
    labels = page.locator('[data-testid="stMetricLabel"]')
    tops = {round(labels.filter(has_text=name).first.bounding_box()["y"])
            for name in ("DSRs overdue", "DSRs open", "Due within 7 days")}
    assert len(tops) == 1, tops
    queue = page.locator('[data-testid="stDataFrame"]').first
    queue.scroll_into_view_if_needed()
    # the grid writes its accessible table (th, td) after it has measured itself, which can come after its canvas:
    # expect() waits for it (a busy machine once read an empty header row here)
    expect(queue.locator("th").nth(3)).to_have_text("Received at")
    assert queue.locator("th").all_inner_texts()[:4] == ["Tenant ID", "Request ID", "Request type", "Received at"]
    expect(queue.locator("td").filter(has_text=re.compile(r"^overdue$")).first).to_be_attached()
    page.close()


@pytest.mark.parametrize("role", ["manager", "marketing", "dpo", "engineer"])
def test_role_logs_in_and_sees_its_pages(server, browser, role, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = log_in(browser, server, role)
    for name, (title, heading, label, sql) in TITLES.items():
        if name not in VISIBLE[role]:
            assert page.get_by_role("link", name=title, exact=True).count() == 0
            continue
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        page.get_by_text(AS_OF_TEXT).first.wait_for()
        if label:
            metric = page.locator('[data-testid="stMetric"]', has_text=label).first
            metric.wait_for()
            assert expected(role, sql) in metric.inner_text(), (role, name, label)
        settle(page)
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
        assert all(len(line.split(",")) == 2 for line in lines)
    page.close()


def test_the_dpo_finds_a_person_by_the_email_their_contact_held_before(real_home_dir, browser, tmp_path):
    """The CRM's next Contact export gives one contact a new email. Ingest keeps the old one, the build gives it to
    the person and the published snapshot carries it. In the browser the DPO types the old address (another case,
    stray spaces) into the subject lookup of another tenant than the first, finds that one person with the old
    address listed, and the access export started from there is theirs and names both addresses."""
    import polars as pl
    import real_home

    home = tmp_path / "home"
    shutil.copytree(real_home_dir, home)
    con = duckdb.connect(str(home / "snapshot" / "current.duckdb"), read_only=True)
    try:
        # someone alone under their key, with an email, in the last tenant, under no hold and no erasure request
        tenant, contact, email = con.execute(
            "select s.tenant_id, s.crm_contact_id, s.email from restricted.subjects s "
            "join marts.dim_subjects d using (tenant_id, subject_key) "
            "where s.email is not null and not d.is_under_legal_hold and not d.is_erasure_requested "
            "and (select count(*) from restricted.subjects o where o.tenant_id = s.tenant_id "
            "and o.subject_key = s.subject_key) = 1 "
            "and s.tenant_id = (select max(tenant_id) from restricted.subjects) order by s.crm_contact_id limit 1"
        ).fetchone()
        first_tenant = con.execute("select min(tenant_id) from restricted.subjects").fetchone()[0]
    finally:
        con.close()
    assert tenant != first_tenant
    exports = home / "landing" / tenant / "crm" / "contacts"
    versions = pl.read_csv(sorted(exports.rglob("*.csv")), infer_schema=False).filter(pl.col("Id") == contact)
    new_email = f"moved.{contact.lower()}@example.org"
    latest = versions.sort("LastModifiedDate").tail(1).with_columns(
        Email=pl.lit(new_email), LastModifiedDate=pl.lit("2026-10-31T12:00:00.000Z"))
    latest.write_csv(exports / "2026" / "10" / "Contact_2026-10-31.csv")
    for step in ("ingest", "build", "publish"):
        real_home._lethe(home, step)

    with serving(home) as url:
        page = log_in(browser, url, "dpo")
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Data-subject requests", exact=True).click()
        page.get_by_role("heading", name="Subject lookup").wait_for()
        # to the top of the view: a list opening at its bottom edge is drawn out of sight, with no option to click
        page.get_by_role("heading", name="Subject lookup").evaluate("e => e.scrollIntoView({block: 'start'})")
        page.locator('[data-testid="stSelectbox"]', has_text="Tenant").click()
        page.get_by_role("option", name=tenant, exact=True).click()
        page.get_by_role("textbox", name="CRM contact id, email, phone or subject key").fill(f"  {email.upper()} ")
        page.get_by_role("textbox", name="Reason for this access (the request id; never the person's email or phone)").fill("DSR-old-address")
        page.get_by_role("button", name="Look up").click()
        page.get_by_text("restricted.subject_previous_addresses").wait_for()
        found = page.locator('[data-testid="stMetric"]', has_text="Matching subjects")
        assert found.inner_text().split()[-1] == "1", found.inner_text()
        page.get_by_role("button", name="Start an access export (JSON)").click()
        page.get_by_text("Export written to").wait_for()
        page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)
        page.get_by_text("restricted.subject_previous_addresses").scroll_into_view_if_needed()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dpo-lookup-old-address.png"))
        page.close()

    (export,) = (home / "exports" / tenant).glob("*.dashboard-*.json")
    doc = export.read_text()
    assert contact in doc, "the export started from the lookup is not the person's"
    assert email in doc and new_email in doc, "the export does not name the person's old and new addresses"


def test_logging_out_ends_the_login_cookie_not_only_the_browsers_copy(real_home_dir, browser, tmp_path):
    """The login cookie is a signed token valid for a day. A copy taken before logging out (another tab, a
    shared machine, a stolen cookie) logged the user in again until it expired; now logging out revokes it."""
    import json

    home = tmp_path / "home"
    shutil.copytree(real_home_dir, home)
    (home / "audit" / "dashboard_logins.jsonl").unlink(missing_ok=True)  # other tests' logins on the shared home
    with serving(home) as url:
        page = log_in(browser, url, "manager")
        page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)
        deadline = time.monotonic() + 20
        while not (cookies := [c for c in page.context.cookies() if c["name"] == "lethe_dashboard"]):
            assert time.monotonic() < deadline, "the login cookie was never set"
            page.wait_for_timeout(250)

        def with_cookie():
            other = browser.new_context(viewport={"width": 1400, "height": 1600})
            other.add_cookies(cookies)
            tab = other.new_page()
            tab.set_default_timeout(30_000)
            tab.goto(url)
            tab.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=60_000)
            return other, tab

        other, tab = with_cookie()
        tab.get_by_text(AS_OF_TEXT).first.wait_for()  # before the logout the copy logs in: the cookie is a login
        other.close()

        page.get_by_role("button", name="Log out").click()
        page.get_by_role("textbox", name="Username").wait_for()
        other, tab = with_cookie()
        tab.get_by_role("textbox", name="Username").wait_for()
        tab.wait_for_timeout(1000)
        assert tab.get_by_text(AS_OF_TEXT).count() == 0, "the copy taken before the logout still logs in"
        other.close()
        page.close()
    events = [json.loads(line) for line in (home / "audit" / "dashboard_logins.jsonl").read_text().splitlines()]
    assert [(e["event"], e["user"]) for e in events] == [("login", "manager"), ("logout", "manager")]


@pytest.mark.parametrize(("role", "heading"), [("dpo", "Data-subject requests"), ("engineer", "Data intake")])
def test_a_link_to_a_page_opens_that_page_after_the_login(server, browser, role, heading):
    """A link to …/requests (in a mail, a bookmark) opened the Overview once logged in. It now opens the page
    linked; a role that may not see it gets its own first page, not an error."""
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.set_default_timeout(30_000)
    page.goto(server + "/requests")
    page.get_by_role("textbox", name="Username").fill(role)
    page.get_by_role("textbox", name="Password").fill(PASSWORDS[role])
    page.get_by_role("button", name="Login").click()
    page.get_by_role("heading", name=heading, exact=True).first.wait_for()
    # once the rerun setting the login cookie starts has ended: that page alone, no login form above it
    expect(page.locator("h1")).to_have_text([heading], timeout=30_000)
    assert page.get_by_role("textbox", name="Username").count() == 0
    assert not page.locator('[data-testid="stException"]').count()
    page.close()
