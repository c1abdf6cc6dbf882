"""Overview: the `lethe status` KPIs now, in total and per tenant, and how things moved month by month."""

import data
import streamlit as st
from ui import TRAINING_GAPS, chart, in_words, kpi_metrics, table, tenant_filter, viewer

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
    # a percentage says so, as the metrics above do
    percent = {k.label: st.column_config.NumberColumn(k.label, format="%.1f %%") for k in status.KPIS if k.percent}
    table(shown.rename(columns=labels), percent)

st.subheader("Month by month")
trend = data.trends(v, tf)
# records purged are counted in thousands where the rest are counted in tens: on one axis they would flatten every
# other line, so they get a chart of their own
purged = trend[trend.series == "records purged"]
events = trend[trend.series != "records purged"]
if events.empty:
    st.caption("No dated events yet.")
else:
    chart("line", events, x="month", y="count", color="series")
st.subheader("Records purged per month")
if purged["count"].sum() == 0:
    st.caption("No purge completed in these two years.")
else:
    # months as labels ("2026-11"), one bar each: on a time axis a month's bar is drawn a few pixels wide
    bars = purged.assign(month=purged.month.dt.strftime("%Y-%m")).rename(columns={"count": "records_purged"})
    chart("bar", bars, x="month", y="records_purged")

breaches = data.breaches(v, tf)
if breaches is not None and not breaches.empty:
    st.subheader("Breaches and their 72-hour clock")
    table(breaches)
gaps = data.training_gaps(v, tf)
if gaps is not None and not gaps.empty:
    st.subheader(f"Contacts handled without valid training (last {status.AGENT_WINDOW_DAYS} days)")
    table(in_words(gaps, gap_reason=TRAINING_GAPS))
