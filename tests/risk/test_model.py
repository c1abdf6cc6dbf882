"""The withdrawal-risk model on a generated population: time split, baseline, objectors, determinism."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lethe.risk import train_and_score
from lethe.risk.features import load_features
from lethe.risk.split import LABEL_DAYS, time_split
from lethe.warehouse import connect


@pytest.fixture(scope="module")
def trained(population_home):
    settings, objectors = population_home
    return settings, objectors, train_and_score(settings)


@pytest.mark.slow
def test_model_beats_the_recency_baseline_on_the_held_out_period(trained):
    _, _, result = trained
    auc = result.value("logistic_regression", "roc_auc")
    baseline = result.value("recency_baseline", "roc_auc")
    assert auc > baseline + 0.03, result.render()
    assert result.value("logistic_regression", "lift_top_decile") > result.value("recency_baseline", "lift_top_decile")
    assert "ROC AUC" in result.render()


def test_a_model_that_does_not_beat_the_baseline_says_so():
    from datetime import datetime

    import numpy as np
    import polars as pl

    from lethe.risk.train import BASELINE_NAME, MODEL_NAME, Metric, RiskResult, _baseline_direction

    def result(model_auc: float, model_lift: float = 1.4) -> RiskResult:
        at = datetime(2026, 11, 1)
        metrics = tuple(Metric(m, k, v) for m, k, v in (
            (MODEL_NAME, "roc_auc", model_auc), (MODEL_NAME, "lift_top_decile", model_lift),
            (BASELINE_NAME, "roc_auc", 0.7), (BASELINE_NAME, "lift_top_decile", 1.0),
            (MODEL_NAME, "withdrawal_rate_test", 0.1)))
        return RiskResult(as_of=at, scored=1, n_train=10, n_test=10, positives_train=1, positives_test=1,
                          cutoff=at, metrics=metrics, trained_as_of=at)

    assert not result(0.69).beats_baseline and "does not beat the recency_baseline" in result(0.69).render()
    assert result(0.8).beats_baseline and "WARNING" not in result(0.8).render()
    # a better ROC AUC with no more withdrawals among those ranked highest does not clear the bar either
    assert not result(0.8, 1.0).beats_baseline and "WARNING" in result(0.8, 1.0).render()
    # recent opens before withdrawals: fewer days since the last open is the risk, so the baseline turns round
    train = pl.DataFrame({"days_since_last_open": [1.0, 2.0, 30.0, 60.0]})
    assert _baseline_direction(train, np.array([1, 1, 0, 0])) == -1.0
    assert _baseline_direction(train, np.array([0, 0, 1, 1])) == 1.0


@pytest.mark.slow
def test_evaluation_is_stored_in_the_warehouse(trained):
    settings, _, result = trained
    con = connect(settings, read_only=True)
    try:
        rows = con.execute(
            "select model, metric, value, n_train, n_test, cutoff from marts.withdrawal_risk_evaluation"
        ).fetchall()
    finally:
        con.close()
    stored = {(m, k): v for m, k, v, *_ in rows}
    assert stored[("logistic_regression", "roc_auc")] == pytest.approx(result.value("logistic_regression", "roc_auc"))
    assert {("recency_baseline", "roc_auc"), ("recency_baseline", "lift_top_decile")} <= set(stored)
    assert {r[3] for r in rows} == {result.n_train} and {r[5] for r in rows} == {result.cutoff}


@pytest.mark.slow
def test_time_split_has_no_overlap_and_no_label_leakage(population_home):
    settings, _ = population_home
    con = connect(settings, read_only=True)
    try:
        split = time_split(load_features(con))
    finally:
        con.close()
    assert split is not None
    train_dates = split.train.get_column("snapshot_at")
    test_dates = split.test.get_column("snapshot_at")
    assert train_dates.max() + timedelta(days=LABEL_DAYS) <= split.cutoff <= test_dates.min()
    assert not set(train_dates.unique()) & set(test_dates.unique())
    assert not split.test.get_column("is_scoring_snapshot").any()


@pytest.mark.slow
def test_objecting_subjects_are_never_scored(trained):
    settings, objectors, result = trained
    assert objectors and result.scored > 0
    con = connect(settings, read_only=True)
    try:
        scored_objectors = con.execute(
            """
            select count(*)
            from marts.withdrawal_risk_scores r
            join intermediate.int_subjects_resolved s using (tenant_id, subject_key)
            where s.crm_contact_id in (select unnest(?::varchar[]))
            """,
            [objectors],
        ).fetchone()[0]
        signals = con.execute(
            "select count(*) filter (where top_signals like '%=%'), min(score), max(score) "
            "from marts.withdrawal_risk_scores"
        ).fetchone()
    finally:
        con.close()
    assert scored_objectors == 0
    assert signals[0] > 0 and 0.0 <= signals[1] <= signals[2] <= 1.0


@pytest.mark.slow
def _scores(settings) -> list[tuple]:
    con = connect(settings, read_only=True)
    try:
        return con.execute("select tenant_id, subject_key, score, top_signals from marts.withdrawal_risk_scores "
                           "order by all").fetchall()
    finally:
        con.close()


def _forget_fit(settings) -> None:
    con = connect(settings)
    try:
        con.execute("drop table lethe_meta.withdrawal_risk_model")
    finally:
        con.close()


def test_training_is_deterministic(trained):
    """Two fits on the same warehouse write the same scores, to the last stored digit (Airflow's run
    and `lethe run` on the same input must publish the same snapshot)."""
    settings, _, result = trained
    first = _scores(settings)
    _forget_fit(settings)
    again = train_and_score(settings)
    assert not again.kept
    assert again.metrics == result.metrics and again.scored == result.scored
    assert _scores(settings) == first


@pytest.mark.slow
def test_unchanged_training_data_keeps_the_fit_and_changed_data_refits_it(trained):
    """The fit is kept while the labelled rows are the same (a day's build that only adds the as-of
    snapshot); its scores are a fresh fit's. A changed training row refits the model."""
    settings, _, result = trained
    first = _scores(settings)
    kept = train_and_score(settings)
    assert kept.kept and kept.metrics == result.metrics and kept.n_train == result.n_train
    assert "kept (same training data)" in kept.render()
    assert _scores(settings) == first
    assert not train_and_score(settings, refit=True).kept  # lethe build --full-refresh
    _shift_one_training_row(settings, +1)
    try:
        assert not train_and_score(settings).kept
    finally:
        _shift_one_training_row(settings, -1)
    assert not train_and_score(settings).kept  # back to the first data: refitted again, the first scores
    assert _scores(settings) == first


@pytest.mark.slow
def test_a_purge_rescoring_keeps_the_fit_and_the_next_build_refits_it(trained):
    """A purge's rebuild (keep_fit) scores with the stored fit although its training rows changed (the
    purged ones left); the next build sees the change and refits."""
    settings, _, result = trained
    _shift_one_training_row(settings, +1)  # what a purge does to the training rows: they change
    try:
        kept = train_and_score(settings, keep_fit=True)
        assert kept.kept and kept.metrics == result.metrics
        assert "kept (purge: the next build refits it)" in kept.render()
        refitted = train_and_score(settings)
        assert not refitted.kept and refitted.trained_as_of is not None
    finally:
        _shift_one_training_row(settings, -1)
    train_and_score(settings)  # the first data's fit again, for the tests after this one


def _shift_one_training_row(settings, by: int) -> None:
    con = connect(settings)
    try:
        con.execute(
            "update intermediate.int_engagement_features set sends_30d = sends_30d + ? where (subject_key, snapshot_at) = "
            "(select (subject_key, snapshot_at) from marts.withdrawal_risk_features where label_complete "
            "and not is_scoring_snapshot order by all limit 1)",
            [by],
        )
    finally:
        con.close()
