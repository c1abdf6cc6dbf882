"""Withdrawal risk: who is about to withdraw from email marketing, and why (issue 3).

`train_and_score(settings)` runs after the dbt build: it reads marts.withdrawal_risk_features, trains on
a time split, evaluates against a recency-only baseline and writes the scores and the evaluation.
The training code (scikit-learn) is imported on first use, so that the dashboard can read
`lethe.risk.features` without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lethe.risk.train import RiskResult, train_and_score

__all__ = ["RiskResult", "train_and_score"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from lethe.risk import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
