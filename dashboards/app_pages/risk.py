"""Withdrawal risk: score distribution, driving signals, at-risk segments, model against baseline."""

import data
import streamlit as st
from ui import fmt, not_built, tenant_filter, viewer

v = viewer()
tf = tenant_filter()
st.title("Withdrawal risk")
bands = data.rollup(v, "compliance", "risk", ["tenant_id", "risk_band", "segment", "top_signal"], tf)
if bands is None:
    not_built("Withdrawal risk scores")
else:
    hist = data.histogram(v, "compliance", "risk", "score", tf)
    high = (
        bands.loc[bands.risk_band.astype(str).str.lower() == "high", "records"].sum()
        if "risk_band" in bands
        else None
    )
    st.metric(
        "Subjects at high risk" if high is not None else "Subjects scored",
        fmt(high if high is not None else bands.records.sum()),
    )
    if hist is not None:
        st.subheader("Score distribution")
        st.bar_chart(hist, x="bucket", y="subjects")
    st.subheader("Segments and the signals that drive them")
    st.dataframe(bands, hide_index=True, width="stretch")
evaluation = data.table(v, "compliance", "risk_eval")
st.subheader("Model evaluation against the recency baseline")
if evaluation is None:
    not_built("The model evaluation")
else:
    st.dataframe(evaluation, hide_index=True, width="stretch")
