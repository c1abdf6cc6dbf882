"""Page helpers shared by every page: the viewer, the tenant filter, KPI metrics, the "not built yet" note."""

from __future__ import annotations

import data
import pandas as pd
import streamlit as st

from lethe import status


def viewer() -> data.Viewer:
    """The logged-in viewer (the router has already required a login)."""
    v = data.current_viewer()
    if v is None:
        st.stop()
    return v


def tenant_filter() -> list[str] | None:
    """The tenants chosen in the sidebar, or None for every tenant the viewer may see."""
    chosen = st.session_state.get("tenant_filter") or []
    return list(chosen) or None


def not_built(what: str) -> None:
    st.info(f"{what}: not available yet: run `lethe build`, then `lethe publish`.")


def fmt(n: object) -> str:
    """A count with thousands separators, or a dash when unknown."""
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return "–"


def kpi_text(name: str, values: dict[str, float]) -> str:
    """A KPI as shown in a metric: a count, a percentage, or "not built" when the snapshot lacks it."""
    if name not in values:
        return "not built"
    if status.BY_NAME[name].percent:
        return f"{values[name]:.1f} %"
    return fmt(values[name])


def kpi_metrics(names: list[str], values: dict[str, float], columns: int = 4) -> list:
    """One metric per KPI, labelled as in `lethe status`, with its definition as the help text; returns the
    columns, so that a page can put a metric of its own in the row's free places."""
    cols = st.columns(columns)
    for i, name in enumerate(names):
        kpi = status.BY_NAME[name]
        cols[i % columns].metric(kpi.label, kpi_text(name, values), help=kpi.definition)
    return cols


# words a column name spells in lower case that a reader knows in capitals
_WORDS = {"id": "ID", "ids": "IDs", "dsr": "DSR", "dsrs": "DSRs", "sla": "SLA", "crm": "CRM", "url": "URL",
          "roc": "ROC", "auc": "AUC", "kpi": "KPI", "e164": "E.164", "gx": "GX", "pct": "%"}


def label(column: str) -> str:
    """The heading a table shows for a column: its words spelled out ("tenant_id" -> "Tenant ID"); a name that is
    already a phrase (a KPI label) stays as it is."""
    words = [_WORDS.get(w, w) for w in column.split("_")]
    text = " ".join(w for w in words if w)
    return text[:1].upper() + text[1:]


def table(df: pd.DataFrame, config: dict[str, object] | None = None) -> None:
    """A data frame as every page shows one: full width, no index, columns under readable headings, and an empty
    cell, not the word "None", where a text has no value; times in UTC without an offset. `config` gives some
    columns a column_config of their own (a bar, say), which then names its own heading."""
    shown = df.copy()
    for column in shown.columns:
        if isinstance(shown[column].dtype, pd.DatetimeTZDtype):  # in UTC as every time shown, without "+00:00"
            shown[column] = shown[column].dt.tz_convert("UTC").dt.tz_localize(None)
        elif pd.api.types.is_object_dtype(shown[column]) or pd.api.types.is_string_dtype(shown[column]):
            shown[column] = shown[column].where(shown[column].notna(), "")
    columns = {c: label(c) for c in shown.columns if isinstance(c, str)} | (config or {})
    st.dataframe(shown, hide_index=True, width="stretch", column_config=columns)


# codes of the marts a page shows in words (the DPO's record-level evidence keeps the codes, to look them up by)
CONSENT_REASONS = {
    "valid": "Valid",
    "no_consent": "No consent on record",
    "withdrawn": "Withdrawn",
    "not_given": "Refused",
    "pre_ticked_box": "Pre-ticked box: not a valid consent",
    "implied": "Implied: not a valid consent",
    "defective_evidence": "Capture date, method or notice version missing",
    "recording_missing": "Verbal consent whose recording is gone",
    "not_yet_effective": "Not yet in effect",
    "expired": "Past its end date",
    "renewal_due": "Older than the refresh period: renewal due",
}
VIOLATIONS = {
    "marketing_without_valid_consent": "Marketing without valid consent",
    "marketing_after_withdrawal": "Marketing after a withdrawal",
    "outbound_call_do_not_call": "Outbound call to a Do Not Call subject",
    "processing_while_restricted": "Processing while restricted",
    "profiling_after_objection": "Profiling after an objection",
}

# why an audience leaves a person out (the first that applies: lethe's int_audience_members_assessed)
AUDIENCE_EXCLUSIONS = {
    "erasure_requested": "Erasure requested",
    "restricted": "Processing restricted",
    "objected": "Objected",
    "spam_reported": "Reported an email as spam",
    **{reason: words for reason, words in CONSENT_REASONS.items() if reason != "valid"},
    "hard_bounced": "Email address bounced (hard bounce)",
    "no_valid_address": "No valid address for the channel",
}

# what Lethe did with a data-subject request, or why it could not act (lethe.dsr.requests; the queue's lethe_outcome)
DSR_OUTCOMES = {
    "not verified": "Identity not verified yet",
    "pending": "Not acted on yet: the next pipeline run will",
    "no_match": "Nobody matches: ask the requester",
    "ambiguous": "Several people match: ask the requester which",
    "held": "On hold: the subject is under a legal hold",
    "recorded": "Waiting for the corrected CRM record",
    "applied": "Applied",
    "exported": "Access export written",
    "erased": "Erased",
}

# why an agent's training was not valid when they handled a contact (marts.fct_agent_training_gaps)
TRAINING_GAPS = {
    "no_training": "No training on record",
    "trained_after_contact": "Trained only after the contact",
    "score_below_90": "Exam score under 90",
    "training_expired": "Training older than 365 days",
}

# the purge's reasons, actions and kinds (the data categories' words are lethe.policy.CATEGORY_WORDS)
RETENTION_REASONS = {"retention_expired": "Retention period over", "erasure_request": "Erasure requested"}
PURGE_ACTIONS = {"delete": "Delete", "anonymise": "Anonymise (personal fields blanked)"}
PURGE_KINDS = {"retention": "Retention", "erasure": "Erasure"}
PURGE_STATUSES = {"verify_failed": "verification failed", "planned": "planned, not finished"}


def in_words(df: pd.DataFrame, **columns: dict[str, str]) -> pd.DataFrame:
    """`df` with the codes in each named column replaced by their words (a code without words stays as it is)."""
    return df.assign(**{c: df[c].map(words).fillna(df[c]) for c, words in columns.items()})


# the evaluation's metrics as the risk page names them, in the order it lists them
_EVALUATION_METRICS = {"roc_auc": "ROC AUC (0.5 is chance)", "lift_top_decile": "Lift in the tenth scored highest"}


def evaluation_table(evaluation: pd.DataFrame) -> pd.DataFrame:
    """data.risk_evaluation as the risk page shows it: one row per metric named in words, the model and the
    recency baseline side by side. (The base rate and the split are in evaluation_caption.)"""
    rows = evaluation.set_index("metric")
    wanted = [m for m in _EVALUATION_METRICS if m in rows.index]
    return pd.DataFrame({
        "metric": [_EVALUATION_METRICS[m] for m in wanted],
        "this_model": [round(float(rows.at[m, "model"]), 3) for m in wanted],
        "recency_baseline": [round(float(rows.at[m, "recency_baseline"]), 3) for m in wanted],
    })


def _day(ts: object) -> str:
    return f"{pd.Timestamp(ts):%-d %b %Y}" if pd.notna(ts) else "?"


def evaluation_caption(evaluation: pd.DataFrame) -> str:
    """The split the evaluation was made on and its base rate, in one sentence a manager can read."""
    first = evaluation.iloc[0]
    rates = evaluation.set_index("metric")["model"]
    rate = rates.get("withdrawal_rate_test")
    withdrew = f", of which {float(rate):.1%} withdrew within 30 days" if rate is not None and pd.notna(rate) else ""
    if pd.isna(first.n_train):  # a user of some tenants: one model over every client's subjects
        trained, tested = "Trained on weekly snapshots of every client's subjects", "tested on those"
    else:
        trained = f"Trained on {int(first.n_train):,} weekly snapshots of subjects"
        tested = f"tested on {int(first.n_test):,}"
    return (
        f"{trained} up to {_day(first.train_until)}; "
        f"{tested} from {_day(first.test_from)} to {_day(first.test_until)}{withdrew}. "
        "Lift is the withdrawal rate among the tenth scored highest, as a multiple of that base rate."
    )


def evaluation_warning(evaluation: pd.DataFrame) -> str | None:
    """A warning when the model does not beat the recency baseline (lethe.risk.evaluate.beats: on both ROC AUC and
    lift) in the held-out period, as `lethe build` warns (on a small or young warehouse it may not): its scores
    and the high-risk count are then no better than knowing who was contacted last. None when it beats it."""
    from lethe.risk.evaluate import BAR, beats

    rows = evaluation.set_index("metric")
    if not all(m in rows.index for m in BAR):
        return None
    model = {m: float(rows.at[m, "model"]) for m in BAR}
    baseline = {m: float(rows.at[m, "recency_baseline"]) for m in BAR}
    if beats(model, baseline):
        return None
    return (
        "On this held-out period the model does not beat the recency baseline "
        f"(ROC AUC {model['roc_auc']:.3f} against {baseline['roc_auc']:.3f}; lift in the tenth scored highest "
        f"{model['lift_top_decile']:.3f} against {baseline['lift_top_decile']:.3f}): do not act on its scores or "
        "the high-risk count until a build on more data beats it."
    )


def chart(kind: str, df: pd.DataFrame, x: str, y: str, color: str | None = None, **kwargs: object) -> None:
    """st.<kind>_chart of `df` with its axes and legend titled as the tables head their columns; `sort` may
    name a column (with a leading "-" for descending) by its name in `df`."""
    sort = kwargs.get("sort")
    if isinstance(sort, str):
        kwargs["sort"] = ("-" if sort.startswith("-") else "") + label(sort.removeprefix("-"))
    shown = df.rename(columns={c: label(c) for c in df.columns if isinstance(c, str)})
    getattr(st, f"{kind}_chart")(shown, x=label(x), y=label(y), color=label(color) if color else None, **kwargs)


def quarantine_table(reasons: pd.DataFrame, search: str, *, by_rule_chart: bool = False) -> None:
    """The quarantine reasons (file, rule, reason, count) as the intake and quality pages show them:
    the filter echoed as plain text, "Nothing quarantined." when empty, optionally a chart by rule."""
    if search:
        st.caption("Filtered by:")
        st.text(search[:300])
    if reasons.empty:
        st.success("Nothing quarantined.")
        return
    if by_rule_chart:
        chart("bar", reasons.groupby("rule", as_index=False)["count"].sum(), x="rule", y="count")
    table(reasons)
