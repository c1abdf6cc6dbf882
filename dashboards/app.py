"""Lethe compliance dashboard: login, the shared sidebar, and the router over one file per page."""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path

import streamlit as st
import streamlit_authenticator as stauth

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data  # noqa: E402  (the dashboards folder is on the path when Streamlit runs this file)

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


def forget_user_state() -> None:
    for key in USER_STATE:
        st.session_state.pop(key, None)


st.set_page_config(page_title="Lethe compliance", page_icon=":material/shield:", layout="wide")

settings = get_settings()
config = data.load_users()
authenticator = stauth.Authenticate(
    config["credentials"],
    cookie_name=config.get("cookie", {}).get("name", "lethe_dashboard"),
    cookie_key=data.cookie_key(settings),
    cookie_expiry_days=float(config.get("cookie", {}).get("expiry_days", 1)),
    auto_hash=False,
    login_sleep_time=0.2,
)

if not st.session_state.get("authentication_status"):
    forget_user_state()
    st.title("Lethe compliance dashboard")
    authenticator.login(location="main", key="login")
    if st.session_state.get("authentication_status") is False:
        st.error("Username or password is incorrect")
    elif st.session_state.get("authentication_status"):  # logged in just now: their session starts empty
        st.session_state["session_user"] = st.session_state.get("username")
        st.rerun()
    st.stop()

viewer = data.current_viewer()
if viewer is None:
    st.stop()
if st.session_state.get("session_user") != viewer.username:
    forget_user_state()
    st.session_state["session_user"] = viewer.username

with st.sidebar:
    st.markdown(f"**{viewer.name}**")
    st.caption(f"role: {viewer.role}")
    authenticator.logout("Log out", location="sidebar", key="logout_button")
if not st.session_state.get("authentication_status"):  # logged out just now: nothing of theirs stays on screen
    forget_user_state()
    st.rerun()

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
        f"Old figures: this snapshot judges the data as of {as_of}, more than {data.STALE_AFTER_HOURS} hours ago "
        f"(published {published}). What is due, open or overdue is shown as it was then: a build at an older "
        "as-of (a backfill?) was published last; run `lethe run` for today's figures."
    )

pages = [
    st.Page(str(PAGES_DIR / file), title=title, icon=icon, url_path=file.removesuffix(".py"))
    for file, title, icon, roles in PAGES
    if viewer.role in roles
]
st.navigation(pages).run()
