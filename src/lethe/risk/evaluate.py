"""Ranking metrics on the held-out period: ROC AUC and lift in the top decile (ties shared fairly)."""

from __future__ import annotations

import math

import numpy as np

# The figures on which the model must beat the recency baseline on the held-out period, in the order reports list
# them: a better ranking overall, and more withdrawals among those it ranks highest.
BAR = ("roc_auc", "lift_top_decile")


def beats(model: dict[str, float], baseline: dict[str, float]) -> bool:
    """Whether the model's figures (metric: value) are above the baseline's on every metric of BAR (a metric
    that could not be computed, NaN, is not above anything)."""
    return all(model[m] > baseline[m] for m in BAR)


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
