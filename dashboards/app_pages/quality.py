"""Data quality and runs: contract results, quarantine by reason, pipeline runs and failures."""

import data
import streamlit as st
from ui import fmt, tenant_filter, viewer

v = viewer()
tf = tenant_filter()
st.title("Data quality and runs")
failures = data.pipeline_failures(v)
runs = data.pipeline_runs(v)
summary = data.intake_summary(v, tf)
c = st.columns(3)
c[0].metric("Failed tasks", fmt(len(failures)))
c[1].metric("Pipeline runs", fmt(len(runs)))
c[2].metric("Rows quarantined", fmt(summary.rows_quarantined.sum()))

search = st.text_input("Filter quarantine reasons", key="quality_search", max_chars=20000)
reasons = data.quarantine_reasons(v, tf, search)
st.subheader("Quarantine by reason")
if reasons.empty:
    st.success("Nothing quarantined.")
else:
    st.bar_chart(reasons.groupby("rule", as_index=False)["count"].sum(), x="rule", y="count")
    st.dataframe(reasons, hide_index=True, width="stretch")

st.subheader("Contract validation results")
results = data.validation_results(v)
if results is None:
    st.caption("No validation results recorded yet.")
else:
    st.dataframe(results, hide_index=True, width="stretch")

st.subheader("Failures")
st.dataframe(failures, hide_index=True, width="stretch")
st.subheader("Runs")
st.dataframe(runs, hide_index=True, width="stretch")
