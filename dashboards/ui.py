"""Page helpers shared by every page: the viewer, the tenant filter, the "not built yet" note."""

from __future__ import annotations

import data
import streamlit as st


def viewer() -> data.Viewer:
    """The logged-in viewer (the router has already required a login)."""
    v = data.current_viewer()
    if v is None:
        st.stop()
    return v


def tenant_filter() -> list[str] | None:
    """The tenants chosen in the sidebar, or None for every tenant the viewer may see."""
    chosen = st.session_state.get("tenant_filter") or []
    return list(chosen) or None


def not_built(what: str) -> None:
    st.info(f"{what}: not available yet: run `lethe build`, then `lethe publish`.")


def fmt(n: object) -> str:
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return "–"
