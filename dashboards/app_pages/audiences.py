"""Audiences: who may be contacted, by tenant, purpose and channel; exclusions; the download."""

import data
import streamlit as st
from ui import fmt, not_built, tenant_filter, viewer

v = viewer()
tf = tenant_filter()
st.title("Audiences")
counts = data.rollup(v, "audience_counts", "audience", ["tenant_id", "purpose", "channel"], tf)
if counts is None:
    not_built("Audiences")
    st.stop()
total = data.rollup(v, "audience_counts", "audience", [], tf)
st.metric("Eligible subjects", fmt(total.subjects.iloc[0] if "subjects" in total else total.records.iloc[0]))
st.subheader("Eligible by tenant, purpose and channel")
st.dataframe(counts, hide_index=True, width="stretch")

exclusions = data.rollup(
    v, "audience_counts", "exclusions", ["tenant_id", "purpose", "channel", "reason"], tf
)
st.subheader("Why people are excluded")
if exclusions is None:
    not_built("Audience exclusions")
else:
    st.dataframe(exclusions, hide_index=True, width="stretch")

if data.allowed(v, "audience_download") and not counts.empty:
    st.subheader("Download an audience")
    tenants = sorted(set(counts.tenant_id)) if "tenant_id" in counts else []
    col = st.columns(3)
    tenant = col[0].selectbox("Tenant", tenants, key="aud_tenant")
    purposes = sorted(set(counts.loc[counts.tenant_id == tenant, "purpose"])) if "purpose" in counts else []
    purpose = col[1].selectbox("Purpose", purposes, key="aud_purpose") if purposes else None
    channels = sorted(set(counts.loc[counts.tenant_id == tenant, "channel"])) if "channel" in counts else []
    channel = col[2].selectbox("Channel", channels, key="aud_channel") if channels else None
    if tenant:
        csv = data.audience_download(v, tenant, purpose, channel)
        st.download_button(
            "Download audience CSV",
            csv,
            file_name=f"audience-{tenant}-{purpose or 'all'}-{channel or 'all'}.csv",
            mime="text/csv",
            key="aud_download",
        )
        rows = max(csv.count(b"\n") - 1, 0)
        st.caption(f"{rows:,} subjects; columns subject_key,address")
