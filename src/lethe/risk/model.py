"""The withdrawal-risk model: standardised logistic regression, explained by per-feature contributions.

A subject's contribution of feature j is coef_j * z_j (z = the standardised feature), i.e. how far that
feature moves the log-odds away from those of an average training snapshot; they add up to the score's logit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from lethe.risk.features import FEATURES

RANDOM_STATE = 0
TOP_SIGNALS = 3


C = 1.0
MAX_ITER = 2000


@dataclass(frozen=True)
class Fitted:
    """A fitted model as plain numbers (what lethe_meta.withdrawal_risk_model stores): per feature, in
    FEATURES order, the scaler's mean and scale and the logistic regression's coefficient; and its intercept."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float


def fit(x: np.ndarray, y: np.ndarray) -> Fitted:
    """Fit the scaler and the logistic regression (deterministic)."""
    # scikit-learn takes ~3 s to import: only a fit needs it (a kept model scores with numpy alone)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("logit", LogisticRegression(C=C, max_iter=MAX_ITER, random_state=RANDOM_STATE)),
        ]
    ).fit(x, y)
    scaler, logit = pipeline.named_steps["scale"], pipeline.named_steps["logit"]
    return Fitted(
        mean=np.asarray(scaler.mean_, dtype=np.float64),
        scale=np.asarray(scaler.scale_, dtype=np.float64),
        coef=np.asarray(logit.coef_[0], dtype=np.float64),
        intercept=float(logit.intercept_[0]),
    )


def contributions(model: Fitted, x: np.ndarray) -> np.ndarray:
    """Per-row, per-feature contribution to the logit (rows x FEATURES)."""
    return (x - model.mean) / model.scale * model.coef


def score(model: Fitted, x: np.ndarray) -> np.ndarray:
    """Probability of withdrawing within 30 days, to 6 decimals (the digits beyond vary with the BLAS
    build and thread count, not with the data)."""
    return probability(model, contributions(model, x))


def probability(model: Fitted, contrib: np.ndarray) -> np.ndarray:
    """score() from the rows' contributions (when they are needed for the top signals too)."""
    logit = contrib.sum(axis=1) + model.intercept
    return np.round(1.0 / (1.0 + np.exp(-logit)), 6)


def top_signals(frame: pl.DataFrame, contrib: np.ndarray, top: int = TOP_SIGNALS) -> pl.Series:
    """The `top` features raising each row's risk most, as text: `unopened_streak=7 (+1.21); ...`."""
    long = (
        pl.DataFrame(contrib, schema=list(FEATURES))
        .with_row_index("row")
        .unpivot(index="row", variable_name="feature", value_name="contribution")
        .join(
            frame.select(FEATURES).with_row_index("row").unpivot(index="row", variable_name="feature", value_name="value"),
            on=["row", "feature"],
        )
        .filter(pl.col("contribution") > 0)
        .sort(["row", "contribution", "feature"], descending=[False, True, False])
        .group_by("row", maintain_order=True)
        .head(top)
        .with_columns(
            pl.format(
                "{}={} (+{})",
                pl.col("feature"),
                pl.col("value").round(2),
                pl.col("contribution").round(2),
            ).alias("signal")
        )
        .group_by("row", maintain_order=True)
        .agg(pl.col("signal").str.join("; "))
    )
    rows = pl.DataFrame({"row": pl.arange(0, frame.height, eager=True).cast(pl.UInt32)})
    return rows.join(long, on="row", how="left").sort("row").get_column("signal").fill_null("")
