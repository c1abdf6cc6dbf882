"""Page helpers shared by every page: the viewer, the tenant filter, KPI metrics, the "not built yet" note."""

from __future__ import annotations

import data
import pandas as pd
import streamlit as st

from lethe import status


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
    """A count with thousands separators, or a dash when unknown."""
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return "–"


def kpi_text(name: str, values: dict[str, float]) -> str:
    """A KPI as shown in a metric: a count, a percentage, or "not built" when the snapshot lacks it."""
    if name not in values:
        return "not built"
    if status.BY_NAME[name].percent:
        return f"{values[name]:.1f} %"
    return fmt(values[name])


def kpi_metrics(names: list[str], values: dict[str, float], columns: int = 4) -> None:
    """One metric per KPI, labelled as in `lethe status`, with its definition as the help text."""
    cols = st.columns(columns)
    for i, name in enumerate(names):
        kpi = status.BY_NAME[name]
        cols[i % columns].metric(kpi.label, kpi_text(name, values), help=kpi.definition)


def quarantine_table(reasons: pd.DataFrame, search: str, *, chart: bool = False) -> None:
    """The quarantine reasons (file, rule, reason, count) as the intake and quality pages show them:
    the filter echoed as plain text, "Nothing quarantined." when empty, optionally a chart by rule."""
    if search:
        st.caption("Filtered by:")
        st.text(search[:300])
    if reasons.empty:
        st.success("Nothing quarantined.")
        return
    if chart:
        st.bar_chart(reasons.groupby("rule", as_index=False)["count"].sum(), x="rule", y="count")
    st.dataframe(reasons, hide_index=True, width="stretch")
