"""Data quality and runs: contract results, quarantine by reason, pipeline runs and failures."""

import data
import streamlit as st
from ui import fmt, kpi_text, quarantine_table, table, tenant_filter, viewer

from lethe import status

v = viewer()
tf = tenant_filter()
st.title("Data quality and runs")
failures = data.pipeline_failures(v)
runs = data.pipeline_runs(v)
results = data.validation_results(v, tf)
totals, _ = data.kpis(v, tf, ["quarantined_rows"])
c = st.columns(4)
c[0].metric("Failed tasks", fmt(len(failures)))
c[1].metric("Failed runs", fmt((runs.state == "failed").sum()))
c[2].metric("Failed contract checks", fmt(results.failed.sum()) if results is not None else "–")
c[3].metric("Rows quarantined", kpi_text("quarantined_rows", totals), help=status.BY_NAME["quarantined_rows"].definition)

st.subheader("Contract validation results")
if results is None or results.empty:
    st.caption("No validation results recorded yet.")
else:
    table(results)

search = st.text_input("Filter quarantine reasons", key="quality_search", max_chars=20000)
reasons = data.quarantine_reasons(v, tf, search)
st.subheader("Quarantine by reason")
quarantine_table(reasons, search, by_rule_chart=True)

st.subheader("Failures")
if failures.empty:
    st.caption("No task failure recorded.")
else:
    table(failures)
st.subheader("Runs")
if runs.empty:
    st.caption("No Airflow run recorded (lethe run does not record runs; the DAGs do).")
else:
    table(runs)
