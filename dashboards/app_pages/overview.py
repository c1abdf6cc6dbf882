"""Overview: the few numbers that matter now, per tenant and in total, and the purge trend."""

import data
import streamlit as st
from ui import fmt, tenant_filter, viewer

v = viewer()
tf = tenant_filter()
st.title("Compliance overview")

retention = data.retention_summary(v, tf)
dsr = data.rollup(v, "compliance", "dsr", ["tenant_id", "status"], tf)
consent = data.rollup(v, "consent", "consent", ["tenant_id", "status"], tf)
violations = data.rollup(v, "compliance", "violations", ["tenant_id", "violation_type"], tf)
breaches = data.table(v, "compliance", "breaches", tf)
agents = data.rollup(v, "compliance", "agents", ["tenant_id"], tf)
purges = data.purge_history(v)

past_due = None if retention is None else int(retention.past_due.sum())
c = st.columns(4)
c[0].metric("Records past due", fmt(past_due) if retention is not None else "not built")
last_purge = purges.dropna(subset=["records"]).head(1)
c[1].metric(
    "Purged in the last run", fmt(last_purge.records.iloc[0]) if not last_purge.empty else "no purge yet"
)
if consent is not None and "status" in consent:
    total = consent.records.sum()
    valid = consent.loc[
        consent.status.astype(str).str.lower().isin(["valid", "opt_in", "optin"]), "records"
    ].sum()
    c[2].metric("Consent coverage", f"{100 * valid / total:.1f} %" if total else "–")
else:
    c[2].metric("Consent coverage", "not built")
c[3].metric("Open violations", fmt(violations.records.sum()) if violations is not None else "not built")

c = st.columns(4)
if dsr is not None and "status" in dsr:
    c[0].metric("DSRs open", fmt(dsr.loc[dsr.status == "open", "records"].sum()))
    c[1].metric("DSRs overdue", fmt(dsr.loc[dsr.status == "overdue", "records"].sum()))
else:
    c[0].metric("DSRs open", "not built")
    c[1].metric("DSRs overdue", "not built")
c[2].metric("Breaches", fmt(len(breaches)) if breaches is not None else "not built")
c[3].metric("Agents without valid training", fmt(agents.records.sum()) if agents is not None else "not built")

st.subheader("Per tenant")
if retention is not None:
    per_tenant = retention.groupby("tenant_id", as_index=False)[["due", "past_due"]].sum()
    st.dataframe(per_tenant, hide_index=True, width="stretch")
else:
    st.info("Retention: not available yet: run `lethe build`, then `lethe publish`.")

st.subheader("Purges over time")
if purges.dropna(subset=["purged_at", "records"]).empty:
    st.caption("No purge recorded in the audit log yet.")
else:
    st.bar_chart(purges.dropna(subset=["purged_at", "records"]), x="purged_at", y="records")
if breaches is not None and not breaches.empty:
    st.subheader("Breaches and their 72-hour clock")
    st.dataframe(breaches, hide_index=True, width="stretch")
