"""Retention: what is due and past due by tenant and category, how long past due, purge history."""

import data
import streamlit as st
from ui import fmt, not_built, tenant_filter, viewer

v = viewer()
tf = tenant_filter()
st.title("Retention")
summary = data.retention_summary(v, tf)
if summary is None:
    not_built("Retention due dates")
else:
    c = st.columns(3)
    c[0].metric("Records past due", fmt(summary.past_due.sum()))
    c[1].metric("Records due", fmt(summary.due.sum()))
    c[2].metric("Oldest, days past due", fmt(summary.max_days_past_due.max() if not summary.empty else 0))
    aging = data.retention_aging(v, tf)
    st.subheader("Aging")
    st.bar_chart(aging, x="aging", y="records")
    st.subheader("Due by tenant, category and reason")
    st.dataframe(summary, hide_index=True, width="stretch")
st.subheader("Purge history (audit log)")
history = data.purge_history(v)
if history.empty:
    st.caption("No purge recorded yet.")
else:
    st.dataframe(history, hide_index=True, width="stretch")
