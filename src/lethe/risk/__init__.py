"""Withdrawal risk: who is about to withdraw from email marketing, and why (issue 3).

`train_and_score(settings)` runs after the dbt build: it reads marts.withdrawal_risk_features, trains on
a time split, evaluates against a recency-only baseline and writes the scores and the evaluation.
"""

from lethe.risk.train import RiskResult, train_and_score

__all__ = ["RiskResult", "train_and_score"]
