"""Lethe compliance dashboard: login, the shared sidebar, and the router over one file per page."""

from __future__ import annotations

import contextlib
import sys
import time
from datetime import UTC
from pathlib import Path

import streamlit as st
import streamlit_authenticator as stauth

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data  # noqa: E402  (the dashboards folder is on the path when Streamlit runs this file)
import logins  # noqa: E402

from lethe.settings import get_settings  # noqa: E402

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"

# page file, title, icon, roles that see it (data.py enforces the same rules on every query)
PAGES = [
    ("overview.py", "Overview", ":material/dashboard:", {"manager", "dpo"}),
    ("retention.py", "Retention", ":material/schedule:", {"manager", "dpo"}),
    ("consent.py", "Consent", ":material/verified_user:", {"manager", "marketing", "dpo"}),
    ("risk.py", "Withdrawal risk", ":material/trending_down:", {"manager", "dpo"}),
    ("audiences.py", "Audiences", ":material/campaign:", {"manager", "marketing", "dpo"}),
    ("requests.py", "Data-subject requests", ":material/assignment_ind:", {"manager", "dpo"}),
    ("intake.py", "Data intake", ":material/input:", {"manager", "dpo", "engineer"}),
    ("quality.py", "Data quality and runs", ":material/fact_check:", {"dpo", "engineer"}),
]

# What a session holds for the user logged in only: the subject lookup's result and entries, the tenant filter.
# Dropped at logout and whenever the session's user changes, so the next person at the browser never sees them.
USER_STATE = ("lookup_result", "lookup_tenant", "lookup_term", "lookup_reason", "tenant_filter", "session_user")


def page_list(roles: set[str]) -> list:
    """The pages any of `roles` may see, in the sidebar's order."""
    return [
        st.Page(str(PAGES_DIR / file), title=title, icon=icon, url_path=file.removesuffix(".py"))
        for file, title, icon, page_roles in PAGES
        if page_roles & roles
    ]


def forget_user_state() -> None:
    for key in USER_STATE:
        st.session_state.pop(key, None)


st.set_page_config(page_title="Lethe compliance", page_icon=":material/shield:", layout="wide")

settings = get_settings()
config = data.load_users()
expiry_days = float(config.get("cookie", {}).get("expiry_days", 1))
authenticator = stauth.Authenticate(
    config["credentials"],
    cookie_name=config.get("cookie", {}).get("name", "lethe_dashboard"),
    cookie_key=data.cookie_key(settings),
    cookie_expiry_days=expiry_days,
    auto_hash=False,
)


def log_in() -> None:
    """The login form; returns only once someone has logged in (by password, or by a login cookie that was not
    revoked by logging out), else stops the page. Failed passwords are logged and lock the user after
    logins.MAX_FAILURES; each login is logged."""
    forget_user_state()
    token = authenticator.cookie_controller.get_cookie()
    if token and not logins.revoked(token, expiry_days):
        with contextlib.suppress(stauth.LoginError):  # a user removed from the users file since
            authenticator.authentication_controller.login(token=token)
        if st.session_state.get("authentication_status"):
            st.session_state["session_user"] = st.session_state.get("username")
            return
    form = st.empty()  # emptied once logged in: the page is drawn in this same run, without the form above it
    with form.container():
        st.title("Lethe compliance dashboard")
        with st.form("login"):
            st.subheader("Login")
            username = st.text_input("Username", autocomplete="off").strip().lower()
            password = st.text_input("Password", type="password", autocomplete="off")
            submitted = st.form_submit_button("Login")
    if submitted:
        known = username if username in config["credentials"]["usernames"] else None
        until = logins.locked_until(known) if known else None
        if until is not None:
            logins.record("login_locked", known)
            st.error(f"Too many failed logins for this user: try again after {until:%H:%M} UTC.")
        elif known and authenticator.authentication_controller.login(known, password):
            logins.record("login", known)
            form.empty()
            authenticator.cookie_controller.set_cookie()
            st.session_state["session_user"] = known
            return
        else:
            logins.record("login_failed", known)
            time.sleep(0.5)  # a little slower for whoever guesses
            st.error("Username or password is incorrect")
    # every page, none shown or run: a link to a page (…/requests) keeps its address through the login, and the
    # page opens once logged in when the user's role may see it (else the role's first page)
    st.navigation(page_list({role for *_, roles in PAGES for role in roles}), position="hidden")
    st.stop()


if not st.session_state.get("authentication_status"):
    log_in()

try:
    viewer = data.current_viewer()
except data.AccessDenied:  # removed from the users file since logging in: logged out, with a word why
    authenticator.authentication_controller.logout()
    st.info("Your user is no longer in the dashboard's users file: ask an administrator.")
    log_in()
if viewer is None:
    st.stop()
if st.session_state.get("session_user") != viewer.username:
    forget_user_state()
    st.session_state["session_user"] = viewer.username

who = st.sidebar.empty()
with who.container():
    st.markdown(f"**{viewer.name}**")
    st.caption(f"role: {viewer.role}")
    authenticator.logout("Log out", location="main", key="logout_button")
if not st.session_state.get("authentication_status"):  # logged out just now: their cookies end with this session
    logins.record("logout", viewer.username)
    who.empty()
    log_in()  # shows the login form and stops

try:
    info = data.snapshot_info()
except data.SnapshotMissing:
    st.info("No snapshot has been published yet: run `lethe publish` (or `lethe run`).")
    st.stop()

with st.sidebar:
    choices = data.tenants(viewer)
    st.multiselect("Tenants", choices, key="tenant_filter", placeholder="all tenants")

as_of = info.as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if info.as_of else "unknown"
published = info.published_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if info.published_at else "unknown"
st.caption(f"Data as of {as_of} · snapshot published {published}")
stale = data.staleness(info)
if stale == "published":
    st.warning(
        f"Stale snapshot: published {published} (data as of {as_of}), more than {data.STALE_AFTER_HOURS} hours "
        "ago. The pipeline may have stopped: check Data quality and runs, or run `lethe run`."
    )
elif stale == "as_of":
    st.warning(
        f"Old figures: what this snapshot shows was judged at {as_of}, more than {data.STALE_AFTER_HOURS} hours ago "
        f"(published {published}). What is due, open or overdue is shown as it was then: a build at an older "
        "as-of (a backfill?) was published last; run `lethe run` for today's figures."
    )

st.navigation(page_list({viewer.role})).run()
