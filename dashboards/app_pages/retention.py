"""Retention: what is due and past due by tenant and category, how long past due, purge history."""

import data
import streamlit as st
from ui import (
    PURGE_ACTIONS,
    PURGE_KINDS,
    PURGE_STATUSES,
    RETENTION_REASONS,
    chart,
    fmt,
    in_words,
    kpi_metrics,
    not_built,
    table,
    tenant_filter,
    viewer,
)

from lethe.policy import CATEGORY_WORDS as CATEGORIES

v = viewer()
tf = tenant_filter()
st.title("Retention")
totals, _ = data.kpis(v, tf, ["records_past_due", "records_due", "purged_last_run"])
kpi_metrics(["records_past_due", "records_due", "purged_last_run"], totals, columns=3)

aging = data.retention_aging(v, tf)
st.subheader("How long past due")
if aging is None:
    not_built("Retention aging")
elif aging.empty:
    st.success("Nothing is due: every record is within its retention period.")
else:
    # a bar per age bucket, named across, youngest first
    chart("bar", in_words(aging, data_category=CATEGORIES), x="age_bucket", y="records", color="data_category",
          sort=False, horizontal=True, height=120 + 45 * aging.age_bucket.nunique())

summary = data.retention_summary(v, tf)
st.subheader("Due by tenant, category and reason")
if summary is None:
    not_built("Retention due dates")
elif summary.empty:
    st.caption("No record is due.")
else:
    table(in_words(summary, data_category=CATEGORIES, reason=RETENTION_REASONS, action=PURGE_ACTIONS))

held = data.retention_held(v, tf)
if held is not None:
    st.subheader("Records held, under legal hold, kept for a restriction, and coming due in 30 days")
    table(in_words(held, data_category=CATEGORIES))

st.subheader("Purge history (audit log)")
history = data.purge_history(v, tf)
if history.empty:
    st.caption("No purge recorded yet.")
else:
    done = history[history.status == "completed"]
    runs = "1 completed purge run" if len(done) == 1 else f"{fmt(len(done))} completed purge runs"
    st.caption(f"{runs}, {fmt(done.records_erased.sum())} records erased in all")
    table(in_words(history, kind=PURGE_KINDS, status=PURGE_STATUSES))
    with st.expander("Records erased per run, tenant and category"):
        breakdown = data.purge_breakdown(v, tf)
        table(in_words(breakdown, data_category=CATEGORIES, reason=RETENTION_REASONS, action=PURGE_ACTIONS))
