"""Time split: train on snapshots whose 30-day label window closed before the cutoff, test on those after it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

LABEL_DAYS = 30
TEST_SHARE = 0.3  # the share of labelled snapshot dates held out for evaluation


@dataclass(frozen=True)
class TimeSplit:
    """Rows to train and test on, and the instant between them."""

    train: pl.DataFrame
    test: pl.DataFrame
    cutoff: datetime

    @property
    def train_until(self) -> datetime:
        """The last training snapshot: its label window ends at the latest at the cutoff."""
        return self.train.get_column("snapshot_at").max()

    @property
    def test_from(self) -> datetime:
        return self.test.get_column("snapshot_at").min()


def time_split(frame: pl.DataFrame, test_share: float = TEST_SHARE) -> TimeSplit | None:
    """Split labelled snapshots at the date leaving `test_share` of snapshot dates for test; None if too few."""
    labelled = frame.filter(pl.col("label_complete") & ~pl.col("is_scoring_snapshot"))
    dates = labelled.get_column("snapshot_at").unique().sort()
    if dates.len() < 4:
        return None
    cutoff = dates[int(dates.len() * (1 - test_share))]
    train = labelled.filter(pl.col("snapshot_at") + timedelta(days=LABEL_DAYS) <= cutoff)
    test = labelled.filter(pl.col("snapshot_at") >= cutoff)
    if train.is_empty() or test.is_empty():
        return None
    return TimeSplit(train=train, test=test, cutoff=cutoff)
