"""Consent: coverage by purpose and channel, defective evidence, withdrawals over time, violations."""

import data
import streamlit as st
from ui import (
    CONSENT_REASONS,
    VIOLATIONS,
    chart,
    fmt,
    in_words,
    kpi_text,
    not_built,
    table,
    tenant_filter,
    viewer,
)

from lethe import status

v = viewer()
tf = tenant_filter()
st.title("Consent")
coverage = data.consent_coverage(v, tf)
if coverage is None:
    not_built("Consent status")
    st.stop()
totals, _ = data.kpis(v, tf, ["consent_coverage_pct"])
reasons = data.consent_reasons(v, tf)
defective = int(reasons.loc[reasons.defective_evidence, "consents"].sum()) if not reasons.empty else 0
c = st.columns(3)
c[0].metric("Consent coverage", kpi_text("consent_coverage_pct", totals),
            help=status.BY_NAME["consent_coverage_pct"].definition)
c[1].metric("Valid marketing consents", fmt(coverage.valid.sum()))
c[2].metric("Defective evidence", fmt(defective),
            help="pre-ticked box, implied, defective evidence, or the verbal consent's recording missing")

st.subheader("Coverage by purpose and channel")
chart("bar", coverage, x="purpose_name", y="coverage_pct", color="channel", stack=False)
table(coverage)

st.subheader("Why consents do not count")
table(in_words(reasons, validity_reason=CONSENT_REASONS))

st.subheader("Withdrawals over time")
withdrawals = data.withdrawals_by_month(v, tf)
if withdrawals.empty:
    st.caption("No withdrawal in the last two years.")
else:
    # months as labels ("2026-10"), a bar each: on a time axis a month's bar is drawn a few pixels wide
    chart("bar", withdrawals.assign(month=withdrawals.month.dt.strftime("%Y-%m")), x="month", y="withdrawals",
          color="channel")

if data.allowed(v, "compliance"):
    st.subheader("Violations")
    violations = data.violations_summary(v, tf)
    if violations is None:
        not_built("Consent violations")
    else:
        table(in_words(violations, violation_type=VIOLATIONS))
        if data.allowed(v, "detail"):
            st.caption("Evidence, newest first (pseudonymous: subject keys, source record ids)")
            table(data.violation_evidence(v, tf))
