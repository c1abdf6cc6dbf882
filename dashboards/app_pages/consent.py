"""Consent: coverage by purpose and channel, defective evidence, withdrawals, violations."""

import data
import streamlit as st
from ui import fmt, not_built, tenant_filter, viewer

v = viewer()
tf = tenant_filter()
st.title("Consent")
status = data.rollup(v, "consent", "consent", ["tenant_id", "purpose", "channel", "status"], tf)
if status is None:
    not_built("Consent status")
else:
    total = int(status.records.sum())
    if "status" in status:
        valid = int(
            status.loc[
                status.status.astype(str).str.lower().isin(["valid", "opt_in", "optin"]), "records"
            ].sum()
        )
        defective = int(
            status.loc[
                status.status.astype(str).str.contains("defective|pre_ticked|implied", case=False), "records"
            ].sum()
        )
        c = st.columns(3)
        c[0].metric("Consent coverage", f"{100 * valid / total:.1f} %" if total else "–")
        c[1].metric("Valid consents", fmt(valid))
        c[2].metric("Defective evidence", fmt(defective))
    else:
        st.metric("Consent records", fmt(total))
    st.subheader("By purpose, channel and status")
    st.dataframe(status, hide_index=True, width="stretch")

withdrawals = data.rollup(
    v, "consent", "withdrawals", ["withdrawn_month", "month", "tenant_id", "source"], tf
)
st.subheader("Withdrawals over time")
if withdrawals is None:
    not_built("Withdrawals")
else:
    st.dataframe(withdrawals, hide_index=True, width="stretch")

if data.allowed(v, "compliance"):
    st.subheader("Violations")
    violations = data.rollup(
        v, "compliance", "violations", ["tenant_id", "violation_type", "purpose", "channel"], tf
    )
    if violations is None:
        not_built("Consent violations")
    else:
        st.dataframe(violations, hide_index=True, width="stretch")
        if data.allowed(v, "detail"):
            st.caption("Evidence (pseudonymous)")
            st.dataframe(data.mart_rows(v, "violations", tf), hide_index=True, width="stretch")
