"""Ranking metrics on the held-out period: ROC AUC and lift in the top decile (ties shared fairly)."""

from __future__ import annotations

import math

import numpy as np


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC, or NaN when the period holds only one class."""
    from sklearn.metrics import roc_auc_score  # imported when a fit is evaluated, not by every build

    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, score))


def lift_top_decile(y: np.ndarray, score: np.ndarray, share: float = 0.1) -> float:
    """Withdrawal rate among the top `share` by score over the overall rate; rows tied at the
    boundary count in proportion, as if ties were broken at random."""
    n = len(y)
    base_rate = float(y.mean()) if n else 0.0
    if n == 0 or base_rate == 0.0:
        return float("nan")
    k = math.ceil(n * share)
    threshold = np.sort(score)[::-1][k - 1]
    above = score > threshold
    tied = score == threshold
    fraction = (k - above.sum()) / tied.sum()
    positives = y[above].sum() + fraction * y[tied].sum()
    return float(positives / k / base_rate)
