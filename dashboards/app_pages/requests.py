"""Data-subject requests: the queue with due dates and SLA status; the DPO's logged subject lookup."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import data
import streamlit as st
from ui import DSR_OUTCOMES, fmt, in_words, kpi_metrics, not_built, table, tenant_filter, viewer

from lethe.settings import get_settings

v = viewer()
tf = tenant_filter()
st.title("Data-subject requests")
queue = data.dsr_queue(v, tf)
if queue is None:
    not_built("Data-subject requests")
else:
    totals, _ = data.kpis(v, tf, ["dsr_overdue", "dsr_open"])
    row = kpi_metrics(["dsr_overdue", "dsr_open"], totals, columns=3)
    counts = data.dsr_counts(v, tf) or {"not_done": len(queue), "due_within_7_days": 0}
    row[2].metric("Due within 7 days", fmt(counts["due_within_7_days"]),
                  help="open requests (not overdue yet) whose due date is at most 7 days after as-of")
    st.subheader("Queue: open requests, most urgent first")
    if queue.empty:
        st.success("No open request.")
    else:
        if len(queue) < counts["not_done"]:
            st.caption(f"showing {fmt(len(queue))} of {fmt(counts['not_done'])}, the most urgent first")
        table(in_words(queue, lethe_outcome=DSR_OUTCOMES) if "lethe_outcome" in queue else queue)
    st.subheader("By tenant, type and status")
    table(data.dsr_summary(v, tf))

if data.allowed(v, "subject"):
    st.subheader("Subject lookup")
    st.caption("Every lookup is logged with your name, the time, the subject and your reason.")
    choices = data.tenants(v)
    with st.form("lookup"):
        tenant = st.selectbox("Tenant", choices, key="lookup_tenant")
        term = st.text_input(
            "CRM contact id, email, phone or subject key", key="lookup_term", max_chars=20000
        )
        reason = st.text_input(
            "Reason for this access (the request id; never the person's email or phone)", key="lookup_reason",
            max_chars=20000
        )
        submitted = st.form_submit_button("Look up")
    if submitted:
        try:  # lookup_subject refuses a missing reason or one holding an email or phone, logging nothing
            st.session_state["lookup_result"] = {
                "user": v.username, "snapshot": data.snapshot_version(), "tenant": tenant, "term": term,
                "found": data.lookup_subject(v, tenant, term, reason),
            }
        except data.AccessDenied as refused:
            st.session_state.pop("lookup_result", None)
            problem = str(refused)
            st.error(problem[:1].upper() + problem[1:] + ".")
    shown = st.session_state.get("lookup_result")
    if shown is not None and (shown["user"] != v.username or shown["tenant"] not in choices):
        st.session_state.pop("lookup_result")  # another user's, or a tenant this user may no longer see
        shown = None
    if shown is not None and shown["snapshot"] != data.snapshot_version():
        # the pipeline republished since (a purge may have erased this person): show nothing the snapshot no
        # longer holds, and let a new lookup (logged again) show what it holds now
        st.session_state.pop("lookup_result")
        shown = None
        st.info("The snapshot was republished since your last lookup: look up again to see what it holds now.")
    if shown is not None:
        tenant, term, found = shown["tenant"], shown["term"], shown["found"]
        identity = found.get("identity")
        st.metric("Matching subjects", fmt(0 if identity is None else len(identity)))
        if identity is None or identity.empty:
            st.caption("No subject matches:")
            st.text(term[:500])
        flags = found.get("marts.dim_subjects")
        if flags is not None:
            for row in flags.itertuples():
                if row.is_restricted:
                    st.warning("Processing restricted: this subject's data may be stored but not used.")
                if row.is_objecting:
                    st.warning("Objects to profiling: this subject is never scored or profiled.")
                if row.is_erasure_requested:
                    st.warning("Erasure requested: this subject's records are due for erasure.")
                if row.is_under_legal_hold:
                    st.info("Under legal hold: records are kept until the hold ends.")
        for name, df in found.items():
            st.markdown(f"**{name}**")
            st.dataframe(df, hide_index=True, width="stretch")
        if (
            identity is not None
            and len(identity) == 1
            and st.button("Start an access export (JSON)", key="export")
        ):
            settings = get_settings()
            contact = str(identity.crm_contact_id.iloc[0])
            # under exports/<tenant>/<subject_key>.*, where the purge finds it: an erasure of the subject deletes
            # it, and it ages out with the tenant's DSR SLA like the pipeline's own access exports
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            out = settings.exports_dir / tenant / f"{identity.subject_key.iloc[0]}.dashboard-{stamp}.json"
            lethe = Path(sys.executable).with_name("lethe")
            proc = subprocess.run(  # noqa: S603 (fixed argv, no shell)
                [
                    str(lethe),
                    "dsar",
                    "export",
                    "--tenant",
                    tenant,
                    "--contact-id",
                    contact,
                    "--format",
                    "json",
                    "--out",
                    str(out),
                ],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if proc.returncode == 0:
                st.success(f"Export written to {out}")
            else:
                st.error((proc.stderr.strip().splitlines() or ["export failed"])[-1])
