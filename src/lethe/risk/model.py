"""The withdrawal-risk model: standardised logistic regression, explained by per-feature contributions.

A subject's contribution of feature j is coef_j * z_j (z = the standardised feature), i.e. how far that
feature moves the log-odds away from those of an average training snapshot; they add up to the score's logit.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from lethe.risk.features import FEATURES

RANDOM_STATE = 0
TOP_SIGNALS = 3


def fit(x: np.ndarray, y: np.ndarray) -> Pipeline:
    """Fit the scaler and the logistic regression (deterministic)."""
    model = Pipeline(
        [
            ("scale", StandardScaler()),
            ("logit", LogisticRegression(C=1.0, max_iter=2000, random_state=RANDOM_STATE)),
        ]
    )
    return model.fit(x, y)


def score(model: Pipeline, x: np.ndarray) -> np.ndarray:
    """Probability of withdrawing within 30 days, to 6 decimals (the digits beyond vary with the BLAS
    build and thread count, not with the data)."""
    return np.round(model.predict_proba(x)[:, 1], 6)


def contributions(model: Pipeline, x: np.ndarray) -> np.ndarray:
    """Per-row, per-feature contribution to the logit (rows x FEATURES)."""
    z = model.named_steps["scale"].transform(x)
    return z * model.named_steps["logit"].coef_[0]


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
