"""AppTest: every page under every role shows the snapshot's numbers, and only the role's pages."""

import threading

import duckdb
import pytest
from conftest import PAGES, VISIBLE, login, metrics, open_page

TITLES = {
    "overview": "Compliance overview",
    "retention": "Retention",
    "consent": "Consent",
    "risk": "Withdrawal risk",
    "audiences": "Audiences",
    "requests": "Data-subject requests",
    "intake": "Data intake",
    "quality": "Data quality and runs",
}


def snap(settings, sql):
    con = duckdb.connect(str(settings.snapshot), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_login_is_required(published):
    from conftest import APP
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.metric and not at.dataframe
    assert [b.label for b in at.button] == ["Login"]


def test_wrong_password_is_refused(published):
    at = login("dpo", "not-the-password")
    assert [e.value for e in at.error] == ["Username or password is incorrect"]
    assert not at.metric


@pytest.mark.parametrize("role", ["manager", "marketing", "dpo", "engineer"])
def test_every_page_under_every_role(published, role):
    at = login(role)
    assert not at.exception
    s = published
    for page in PAGES:
        if page not in VISIBLE[role]:
            try:
                at.switch_page(f"app_pages/{page}.py")
            except ValueError:
                continue  # not even registered for this role
            at.run()
            assert not at.exception
            assert TITLES[page] not in [t.value for t in at.title], (role, page)
            continue
        open_page(at, page)
        assert any("Data as of 2026-03-01 00:00 UTC" in c.value for c in at.caption), page
        m = metrics(at)
        if page == "intake":
            assert m["Rows loaded"] == str(snap(s, "select sum(rows_loaded) from intake.summary"))
            assert m["Files quarantined whole"] == "1"
        elif page == "retention":
            assert m["Records past due"] == str(
                snap(s, "select count(*) from marts.retention_due where days_past_due > 0")
            )
        elif page == "overview":
            assert m["Records past due"] == "2" and m["Purged in the last run"] == "12"
            assert m["DSRs overdue"] == "1"
        elif page == "consent":
            # marketing sees only acme-energy: 1 valid of 2; the others 1 of 3
            assert m["Consent coverage"] == ("50.0 %" if role == "marketing" else "33.3 %")
        elif page == "audiences":
            expected = (
                "1"
                if role == "marketing"
                else str(snap(s, "select count(distinct subject_key) from marts.audience"))
            )
            assert m["Eligible subjects"] == expected
            assert bool(at.get("download_button")) == (role in {"marketing", "dpo"})
        elif page == "requests":
            assert m["Overdue requests"] == "1"
        elif page == "quality":
            assert m["Failed tasks"] == "1"
        elif page == "risk":
            assert any("not available yet" in i.value for i in at.info)
        shown = " ".join(str(df.value.to_csv()) for df in at.dataframe)
        if role != "dpo":
            assert "@example.com" not in shown and "subject_key" not in shown, (role, page)


HOSTILE = [
    "'; drop table intake.summary; --",
    "' or '1'='1",
    "<script>alert('x')</script>",
    "x" * 10_000,
]


@pytest.mark.parametrize("value", HOSTILE, ids=["sql-drop", "sql-or", "script", "10kB"])
def test_hostile_text_is_harmless_and_shown_as_text(published, value):
    at = login("dpo")
    open_page(at, "intake")
    at.text_input(key="intake_search").input(value).run()
    assert not at.exception
    assert metrics(at)["Rows loaded"] == "0", "a filter that matches nothing shows nothing"
    assert any(t.value == value[:300] for t in at.text), "the input is echoed as plain text"
    open_page(at, "quality")
    at.text_input(key="quality_search").input(value).run()
    assert not at.exception
    open_page(at, "requests")
    at.text_input(key="lookup_term").input(value)
    at.text_input(key="lookup_reason").input(value)
    next(b for b in at.button if b.label == "Look up").click().run()
    assert not at.exception
    assert metrics(at).get("Matching subjects") == "0"
    assert snap(published, "select count(*) from intake.summary") == 4, "the snapshot is intact"


def test_pages_keep_working_while_the_pipeline_republishes(published):
    from lethe.publish import publish

    stop = threading.Event()
    errors: list[BaseException] = []
    publishes = [0]

    def republish():
        while not stop.is_set():
            try:
                publish(published)
                publishes[0] += 1
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    worker = threading.Thread(target=republish)
    worker.start()
    try:
        at = login("dpo")
        for _ in range(6):
            for page in ("intake", "overview", "audiences", "quality"):
                open_page(at, page)
                assert metrics(at), page
    finally:
        stop.set()
        worker.join()
    assert not errors
    assert publishes[0] >= 3
