"""Withdrawal risk: score distribution, driving signals, at-risk segments, model against baseline."""

import data
import streamlit as st
from ui import (
    chart,
    evaluation_caption,
    evaluation_table,
    evaluation_warning,
    kpi_metrics,
    not_built,
    table,
    tenant_filter,
    viewer,
)

v = viewer()
tf = tenant_filter()
st.title("Withdrawal risk")
distribution = data.risk_distribution(v, tf)
if distribution is None:
    not_built("Withdrawal risk scores")
    st.stop()
totals, _ = data.kpis(v, tf, ["subjects_at_high_risk"])
kpi_metrics(["subjects_at_high_risk"], totals, columns=1)

st.subheader("Score distribution (multiples of the base withdrawal rate)")
chart("bar", distribution, x="band", y="subjects", sort=False, horizontal=True, height=120 + 45 * len(distribution))

st.subheader("Signals that drive high risk")
signals = data.risk_signals(v, tf)
if signals.empty:
    st.caption("No subject is at high risk.")
else:
    st.caption("How often each signal is among the three that raise a high-risk subject's score most.")
    table(signals, {"high_risk_subjects": "High-risk subjects", "share_of_high_risk_pct": st.column_config.ProgressColumn(
        "Share of high-risk subjects", format="%.1f %%", min_value=0, max_value=100)})

st.subheader("At-risk segments")
table(data.risk_segments(v, tf))

st.subheader("Model evaluation against the recency baseline (held-out period)")
evaluation = data.risk_evaluation(v)
if evaluation is None or evaluation.empty:
    not_built("The model evaluation")
else:
    table(evaluation_table(evaluation))
    st.caption(evaluation_caption(evaluation))
    warning = evaluation_warning(evaluation)
    if warning:
        st.warning(warning)
