"""Data intake: per tenant and source, what was loaded and what was quarantined, with the reasons."""

import data
import streamlit as st
from ui import fmt, quarantine_table, table, tenant_filter, viewer

v = viewer()
st.title("Data intake")
search = st.text_input("Filter datasets and reasons", key="intake_search", max_chars=20000)
summary = data.intake_summary(v, tenant_filter(), search)
reasons = data.quarantine_reasons(v, tenant_filter(), search)

c1, c2, c3, c4 = st.columns(4)
c1.metric("Rows loaded", fmt(summary.rows_loaded.sum()))
c2.metric("Rows quarantined", fmt(summary.rows_quarantined.sum()))
c3.metric("Files quarantined whole", fmt(summary.files_quarantined.sum()))
c4.metric("Duplicates skipped", fmt(summary.duplicates_skipped.sum()))

st.subheader("Loaded and quarantined, per tenant and source")
if summary.empty:
    st.info("Nothing has been ingested yet: run `lethe ingest`, then `lethe publish`.")
else:
    table(summary)

st.subheader("Quarantine reasons")
quarantine_table(reasons, search)
