"""The model's features: which columns of marts.withdrawal_risk_features, and how they become a matrix."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import polars as pl

FEATURES_TABLE = "marts.withdrawal_risk_features"

# counts, log1p-transformed
COUNT_FEATURES = (
    "sends_30d",
    "sends_90d",
    "opens_30d",
    "opens_prior_60d",
    "clicks_30d",
    "clicks_90d",
    "unopened_streak",
    "bounces_90d",
    "complaints_total",
    "inbound_contacts_30d",
    "inbound_contacts_90d",
    "negative_contacts_90d",
    "contact_frequency_30d",
)
# rates in [0, 1] (trend in [-1, 1]); null (no sends in the window) becomes 0
RATE_FEATURES = ("open_rate_30d", "open_rate_prior_60d", "open_rate_trend")
# days before the snapshot, log1p-transformed, capped; null (never) becomes the cap
RECENCY_FEATURES = ("days_since_last_open", "days_since_last_send", "days_since_last_contact", "days_since_first_send")
RECENCY_CAP_DAYS = 365

FEATURES = COUNT_FEATURES + RATE_FEATURES + RECENCY_FEATURES
# each feature as a reader of the dashboard names it (a window "30d" is the 30 days before the snapshot)
FEATURE_WORDS = {
    "sends_30d": "Emails sent in the last 30 days",
    "sends_90d": "Emails sent in the last 90 days",
    "opens_30d": "Emails opened in the last 30 days",
    "opens_prior_60d": "Emails opened in the 60 days before those",
    "clicks_30d": "Clicks in the last 30 days",
    "clicks_90d": "Clicks in the last 90 days",
    "unopened_streak": "Emails left unopened in a row",
    "bounces_90d": "Bounces in the last 90 days",
    "complaints_total": "Spam complaints ever",
    "inbound_contacts_30d": "Their calls and chats in the last 30 days",
    "inbound_contacts_90d": "Their calls and chats in the last 90 days",
    "negative_contacts_90d": "Complaints or cancellations by call or chat in the last 90 days",
    "contact_frequency_30d": "Emails, calls and chats in the last 30 days",
    "open_rate_30d": "Open rate in the last 30 days",
    "open_rate_prior_60d": "Open rate in the 60 days before those",
    "open_rate_trend": "Change in open rate (last 30 days against the 60 before)",
    "days_since_last_open": "Days since the last open",
    "days_since_last_send": "Days since the last email",
    "days_since_last_contact": "Days since the last call or chat",
    "days_since_first_send": "Days since the first email",
}
BASELINE_FEATURE = "days_since_last_open"
_SIGNAL = re.compile(r"([a-z0-9_]+)=(-?[0-9.]+(?:e-?[0-9]+)?)")


def signals_in_words(top_signals: str | None) -> str:
    """A score's top signals (model.top_signals' `unopened_streak=7 (+1.21); ...`) as a person reads them:
    `Emails left unopened in a row: 7; ...`; rates as percentages, the trend in percentage points."""
    parts = []
    for name, value in _SIGNAL.findall(top_signals or ""):
        v = float(value)
        if name == "open_rate_trend":
            shown = f"{100 * v:+.0f} percentage points"
        elif name in RATE_FEATURES:
            shown = f"{v:.0%}"
        else:
            shown = f"{v:g}"
        parts.append(f"{FEATURE_WORDS.get(name, name)}: {shown}")
    return "; ".join(parts)


ID_COLUMNS = ("tenant_id", "subject_key", "snapshot_at", "is_scoring_snapshot", "label_complete")
LABEL = "withdrew_within_30d"


def load_features(con: duckdb.DuckDBPyConnection, where: str = "true") -> pl.DataFrame:
    """The features mart's snapshot rows (all, or those matching a constant SQL condition), with raw feature
    values filled (nulls as documented above)."""
    columns = ", ".join((*ID_COLUMNS, LABEL, *FEATURES))
    # a fixed row order: the training sample and the solver's sums (hence every score) must not depend on
    # how the scan happened to be parallelised, or two builds of the same data disagree
    frame = con.execute(
        f"select {columns} from {FEATURES_TABLE} where {where} order by tenant_id, subject_key, snapshot_at"  # noqa: S608
    ).pl()
    return frame.with_columns(
        *(pl.col(name).cast(pl.Float64).fill_null(0.0) for name in COUNT_FEATURES + RATE_FEATURES),
        *(
            pl.col(name).cast(pl.Float64).fill_null(RECENCY_CAP_DAYS).clip(0, RECENCY_CAP_DAYS)
            for name in RECENCY_FEATURES
        ),
    )


def to_matrix(frame: pl.DataFrame) -> np.ndarray:
    """The model's input matrix: log1p of counts and recencies, rates as they are, in FEATURES order."""
    return frame.select(
        *(pl.col(name).log1p() for name in COUNT_FEATURES),
        *(pl.col(name) for name in RATE_FEATURES),
        *(pl.col(name).log1p() for name in RECENCY_FEATURES),
    ).to_numpy()


def labels(frame: pl.DataFrame) -> np.ndarray:
    """The 0/1 label of labelled rows."""
    return frame.get_column(LABEL).cast(pl.Int8).to_numpy()
