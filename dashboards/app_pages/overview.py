"""Overview: the `lethe status` KPIs now, in total and per tenant, and how things moved month by month."""

import data
import streamlit as st
from ui import chart, kpi_metrics, table, tenant_filter, viewer

from lethe import status

v = viewer()
tf = tenant_filter()
st.title("Compliance overview")

totals, per_tenant = data.kpis(v, tf)
names = [k.name for k in status.KPIS]
kpi_metrics(names, totals)

st.subheader("Per tenant")
if per_tenant.empty:
    st.caption("Nothing published for these tenants yet.")
else:
    labels = {k.name: k.label for k in status.KPIS}
    values = per_tenant.drop(columns="tenant_id")
    # the centre's own folder only matters when something of it is counted (e.g. quarantined rows)
    shown = per_tenant[(per_tenant.tenant_id != "_centre") | (values != 0).any(axis=1)]
    table(shown.rename(columns=labels))

st.subheader("Month by month")
trend = data.trends(v, tf)
if trend.empty:
    st.caption("No dated events yet.")
else:
    chart("line", trend, x="month", y="count", color="series")

breaches = data.breaches(v, tf)
if breaches is not None and not breaches.empty:
    st.subheader("Breaches and their 72-hour clock")
    table(breaches)
gaps = data.training_gaps(v, tf)
if gaps is not None and not gaps.empty:
    st.subheader(f"Contacts handled without valid training (last {status.AGENT_WINDOW_DAYS} days)")
    table(gaps)
