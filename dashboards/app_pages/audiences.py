"""Audiences: who may be contacted, by tenant, purpose and channel; exclusions; the CONTRACT download."""

import data
import streamlit as st
from ui import AUDIENCE_EXCLUSIONS, chart, fmt, in_words, not_built, table, tenant_filter, viewer

v = viewer()
tf = tenant_filter()
st.title("Audiences")
counts = data.audience_counts(v, tf)
if counts is None:
    not_built("Audiences")
    st.stop()
c = st.columns(2)
c[0].metric("Eligible subjects", fmt(data.audience_reach(v, tf)),
            help="distinct subjects who may be contacted for at least one purpose and channel")
c[1].metric("Eligible contacts", fmt(counts.eligible.sum()), help="subject x purpose x channel")
st.subheader("Eligible by tenant, purpose and channel")
if counts.empty:
    st.caption("Nobody may be contacted.")
else:
    # a bar per purpose, named across, not up the axis
    chart("bar", counts, x="purpose_name", y="eligible", color="channel", horizontal=True,
          height=120 + 45 * counts.purpose_name.nunique())
    table(counts)

exclusions = data.audience_exclusions(v, tf)
st.subheader("Why people are excluded")
if exclusions is None:
    not_built("Audience exclusions")
else:
    table(in_words(exclusions, exclusion_reason=AUDIENCE_EXCLUSIONS))

if data.allowed(v, "audience_download") and not counts.empty:
    st.subheader("Download an audience")
    col = st.columns(3)
    tenant = col[0].selectbox("Tenant", sorted(set(counts.tenant_id)), key="aud_tenant")
    mine = counts[counts.tenant_id == tenant]
    purpose = col[1].selectbox("Purpose", sorted(set(mine.purpose_name)), key="aud_purpose")
    channel = col[2].selectbox("Channel", sorted(set(mine[mine.purpose_name == purpose].channel)), key="aud_channel")
    if tenant and purpose and channel:
        csv = data.audience_download(v, tenant, purpose, channel)
        st.download_button(
            "Download audience CSV",
            csv,
            file_name=f"audience-{tenant}-{purpose}-{channel}.csv".replace(" ", "_").lower(),
            mime="text/csv",
            key="aud_download",
        )
        rows = max(csv.count(b"\n") - 1, 0)
        st.caption(f"{rows:,} {'subject' if rows == 1 else 'subjects'}; columns subject_key,address (as `lethe audience` writes them)")
