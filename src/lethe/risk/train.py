"""`train_and_score`: time-split training, held-out evaluation against a recency baseline, scores to the warehouse.

Training reads every labelled snapshot (~4.5 M rows at 200k subjects); a build that only moved as-of by a day
leaves them as they were. So the fitted model is kept in lethe_meta.withdrawal_risk_model with a fingerprint
of its training input (every labelled row's ids, label and features, and the model's settings), and a
build whose labelled rows hash to the same fingerprint scores with the kept model instead of fitting it
again. Training is deterministic, so that model is the one a new fit would give; a new week of complete
labels, late or purged data, or a change of the model's settings change the fingerprint and it is refitted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import polars as pl

from lethe.risk import evaluate, model
from lethe.risk.features import (
    BASELINE_FEATURE,
    FEATURES,
    FEATURES_TABLE,
    ID_COLUMNS,
    LABEL,
    RECENCY_CAP_DAYS,
    labels,
    load_features,
    to_matrix,
)
from lethe.risk.split import LABEL_DAYS, TEST_SHARE, time_split
from lethe.settings import Settings

log = logging.getLogger(__name__)

MODEL_NAME = "logistic_regression"
BASELINE_NAME = "recency_baseline"
MAX_TRAIN_ROWS = 2_000_000  # a fixed-seed sample above this keeps training in seconds at 200k subjects
# everything besides the data that decides the fitted model: a change refits it
MODEL_SETTINGS = (
    f"features={','.join(FEATURES)};max_train_rows={MAX_TRAIN_ROWS};seed={model.RANDOM_STATE};C={model.C};"
    f"max_iter={model.MAX_ITER};label_days={LABEL_DAYS};test_share={TEST_SHARE};recency_cap={RECENCY_CAP_DAYS}"
)
MODEL_TABLE = "lethe_meta.withdrawal_risk_model"
MODEL_DDL = f"""
create or replace table {MODEL_TABLE} (
    fingerprint varchar not null,
    trained_as_of timestamp not null,
    position integer not null,
    feature varchar not null,
    mean double not null,
    scale double not null,
    coef double not null,
    intercept double not null
)"""

SCORES_DDL = """
create or replace table marts.withdrawal_risk_scores (
    tenant_id varchar not null,
    subject_key varchar not null,
    scored_at timestamp not null,
    score double not null,
    top_signals varchar
)"""
EVALUATION_DDL = """
create or replace table marts.withdrawal_risk_evaluation (
    model varchar not null,
    metric varchar not null,
    value double,
    n_train bigint not null,
    n_test bigint not null,
    positives_train bigint not null,
    positives_test bigint not null,
    cutoff timestamp,
    train_until timestamp,
    test_from timestamp,
    test_until timestamp,
    evaluated_at timestamp not null
)"""


@dataclass(frozen=True)
class Metric:
    """One evaluation figure of one model on the held-out period."""

    model: str
    metric: str
    value: float


@dataclass(frozen=True)
class RiskResult:
    """What was trained, how it did on the held-out period, and how many subjects were scored."""

    as_of: datetime
    scored: int
    n_train: int
    n_test: int
    positives_train: int
    positives_test: int
    cutoff: datetime | None
    metrics: tuple[Metric, ...]
    skipped_reason: str | None = None
    trained_as_of: datetime | None = None  # when the model that scored was fitted
    kept: bool = False  # the stored fit scored: the training data were unchanged since trained_as_of
    kept_because: str = "same training data"  # or a purge's rescoring (train_and_score(keep_fit=True))

    def value(self, model_name: str, metric: str) -> float:
        """One figure, e.g. value('logistic_regression', 'roc_auc')."""
        return next(m.value for m in self.metrics if m.model == model_name and m.metric == metric)

    def render(self) -> str:
        if self.skipped_reason:
            return f"withdrawal risk: not trained ({self.skipped_reason}); no scores written"
        lines = [
            f"withdrawal risk: scored {self.scored} subjects at {self.as_of:%Y-%m-%d}; trained on {self.n_train} "
            f"snapshots ({self.positives_train} withdrawals) before {self.cutoff:%Y-%m-%d}, "
            f"held out {self.n_test} ({self.positives_test} withdrawals) from it"
            + (f"; model fitted at {self.trained_as_of:%Y-%m-%d} kept ({self.kept_because})" if self.kept else "")
        ]
        for name in (MODEL_NAME, BASELINE_NAME):
            lines.append(
                f"  {name:<20} ROC AUC {self.value(name, 'roc_auc'):.3f}   "
                f"lift in top decile {self.value(name, 'lift_top_decile'):.2f}x"
            )
        if not self.beats_baseline:
            lines.append(f"  WARNING: the model does not beat the {BASELINE_NAME} on the held-out period (on both "
                         "ROC AUC and lift in the top decile); its scores are written, but do not rely on them")
        return "\n".join(lines)

    @property
    def beats_baseline(self) -> bool:
        """The model's held-out ROC AUC and lift above the recency baseline's (evaluate.beats, the bar it must clear,
        the dashboard's too); nothing to beat when nothing was trained."""
        if self.skipped_reason or not self.metrics:
            return True
        model, baseline = ({m: self.value(name, m) for m in evaluate.BAR} for name in (MODEL_NAME, BASELINE_NAME))
        return evaluate.beats(model, baseline)


# the evaluation's metrics, in the order a RiskResult lists them
METRIC_ORDER = (
    (MODEL_NAME, "roc_auc"),
    (MODEL_NAME, "lift_top_decile"),
    (BASELINE_NAME, "roc_auc"),
    (BASELINE_NAME, "lift_top_decile"),
    (MODEL_NAME, "withdrawal_rate_test"),
)


def train_and_score(settings: Settings, *, refit: bool = False, keep_fit: bool = False) -> RiskResult:
    """Train on history before a cutoff, evaluate after it, score every profilable subject at as-of.

    The fit and its evaluation are kept when the labelled rows are unchanged since the last fit (module doc),
    unless refit (`lethe build --full-refresh`). keep_fit (a purge's rebuild): the stored fit scores even though
    the purge removed labelled rows, when it was made with the same settings and features; the next build's
    fingerprint then differs and refits it. The fit is nine means, scales and coefficients and an intercept over
    a million snapshots, no record of anyone, so an erasure does not have to wait on it; refitting would add
    ~12 s to every purge at 200,000 subjects."""
    from lethe.warehouse import connect

    as_of = settings.as_of.replace(tzinfo=None)
    con = connect(settings)
    try:
        fingerprint = _fingerprint(con)
        kept = None if refit else _kept(con, fingerprint, as_of, any_data=keep_fit)
        if kept is not None:
            fitted, result = kept
            current = load_features(con, where="is_scoring_snapshot")
        else:
            frame = load_features(con)
            fitted, result = _fit(con, frame, as_of)
            if fitted is None:
                return result
            _write_model(con, fitted, fingerprint, as_of)
            current = frame.filter(pl.col("is_scoring_snapshot"))
        scored = _write_scores(con, current, fitted, as_of)
        result = RiskResult(**{**result.__dict__, "as_of": as_of, "scored": scored})
    finally:
        con.close()
    # the report says so when the model does not beat the baseline; no second warning goes to stderr, where a
    # failing command's one line must stand alone (CONTRACT section 4)
    log.info(result.render())
    return result


def _fit(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, as_of: datetime) -> tuple[model.Fitted | None, RiskResult]:
    """Fit on the time split's training rows, evaluate on its test rows, store the evaluation."""
    split = time_split(frame)
    if split is None:
        return None, _skip(con, as_of, "too little labelled history for a time split (need 4 weekly snapshots)")
    y_train, y_test = labels(split.train), labels(split.test)
    if y_train.sum() == 0 or y_test.sum() == 0:
        return None, _skip(con, as_of, "no withdrawal in the training or the held-out period")
    train = split.train
    if train.height > MAX_TRAIN_ROWS:
        train = train.sample(MAX_TRAIN_ROWS, seed=model.RANDOM_STATE)
        y_train = labels(train)
    fitted = model.fit(to_matrix(train), y_train)
    test_scores = model.score(fitted, to_matrix(split.test))
    baseline_scores = _baseline_direction(train, y_train) * split.test.get_column(BASELINE_FEATURE).to_numpy()
    values = {
        (MODEL_NAME, "roc_auc"): evaluate.roc_auc(y_test, test_scores),
        (MODEL_NAME, "lift_top_decile"): evaluate.lift_top_decile(y_test, test_scores),
        (BASELINE_NAME, "roc_auc"): evaluate.roc_auc(y_test, baseline_scores),
        (BASELINE_NAME, "lift_top_decile"): evaluate.lift_top_decile(y_test, baseline_scores),
        (MODEL_NAME, "withdrawal_rate_test"): float(y_test.mean()),
    }
    metrics = tuple(Metric(m, k, values[(m, k)]) for m, k in METRIC_ORDER)
    result = RiskResult(
        as_of=as_of,
        scored=0,
        n_train=train.height,
        n_test=split.test.height,
        positives_train=int(y_train.sum()),
        positives_test=int(y_test.sum()),
        cutoff=split.cutoff,
        metrics=metrics,
        trained_as_of=as_of,
    )
    _write_evaluation(con, result, split.train_until, split.test_from, split.test.get_column("snapshot_at").max())
    return fitted, result


def _baseline_direction(train: pl.DataFrame, y_train: np.ndarray) -> float:
    """+1 when more days since the last open means more risk on the training rows, else -1: the recency baseline
    takes its direction from history, as the model takes its weights (a fixed direction can be the wrong one:
    on the generated data those who withdraw opened recently, the unsubscribe link being in a mail they open)."""
    train_auc = evaluate.roc_auc(y_train, train.get_column(BASELINE_FEATURE).to_numpy())
    return 1.0 if train_auc >= 0.5 else -1.0


def _fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """The training input's fingerprint: the model's settings, and the count and an order-free hash of the
    labelled rows (ids, label, features) the time split draws from."""
    columns = ", ".join((*ID_COLUMNS, LABEL, *FEATURES))
    rows, digest = con.execute(
        f"select count(*), coalesce(bit_xor(hash({columns})), 0) from {FEATURES_TABLE} "  # noqa: S608 - constants
        "where label_complete and not is_scoring_snapshot"
    ).fetchone()
    return f"{MODEL_SETTINGS};rows={rows};hash={digest}"


def _kept(con: duckdb.DuckDBPyConnection, fingerprint: str, as_of: datetime, *, any_data: bool = False
          ) -> tuple[model.Fitted, RiskResult] | None:
    """The stored fit and its evaluation when they were made from the same training input (any_data: with the
    same model settings, whatever the data), else None."""
    from lethe import catalog

    if not catalog.table_exists(con, "lethe_meta", "withdrawal_risk_model") or not catalog.table_exists(
        con, "marts", "withdrawal_risk_evaluation"
    ):
        return None
    stored = con.execute(
        f"select fingerprint, trained_as_of, feature, mean, scale, coef, intercept from {MODEL_TABLE} "  # noqa: S608
        "order by position"
    ).fetchall()
    made_from = {row[0] for row in stored}
    same = made_from == {fingerprint} or (
        any_data and len(made_from) == 1 and next(iter(made_from)).startswith(MODEL_SETTINGS + ";"))
    if not stored or not same or [row[2] for row in stored] != list(FEATURES):
        return None
    evaluation = con.execute(
        "select model, metric, value, n_train, n_test, positives_train, positives_test, cutoff "
        "from marts.withdrawal_risk_evaluation order by model, metric"
    ).fetchall()
    if not evaluation:
        return None
    fitted = model.Fitted(
        mean=np.array([row[3] for row in stored], dtype=np.float64),
        scale=np.array([row[4] for row in stored], dtype=np.float64),
        coef=np.array([row[5] for row in stored], dtype=np.float64),
        intercept=float(stored[0][6]),
    )
    first = evaluation[0]
    result = RiskResult(
        as_of=as_of,
        scored=0,
        n_train=first[3],
        n_test=first[4],
        positives_train=first[5],
        positives_test=first[6],
        cutoff=first[7],
        metrics=tuple(sorted((Metric(m, k, v) for m, k, v, *_ in evaluation), key=_metric_order)),
        trained_as_of=stored[0][1],
        kept=True,
        kept_because="same training data" if fingerprint in made_from else "purge: the next build refits it",
    )
    log.info("withdrawal risk: the model fitted at %s scores (%s)", stored[0][1], result.kept_because)
    return fitted, result


def _metric_order(metric: Metric) -> int:
    """Metrics in METRIC_ORDER, as _fit gives them (RiskResult.metrics compares equal between fit and kept fit)."""
    key = (metric.model, metric.metric)
    return METRIC_ORDER.index(key) if key in METRIC_ORDER else len(METRIC_ORDER)


def _write_model(con: duckdb.DuckDBPyConnection, fitted: model.Fitted, fingerprint: str, as_of: datetime) -> None:
    frame = pl.DataFrame(
        {
            "position": list(range(len(FEATURES))),
            "feature": list(FEATURES),
            "mean": fitted.mean,
            "scale": fitted.scale,
            "coef": fitted.coef,
        }
    )
    con.execute(MODEL_DDL)
    con.register("risk_model_frame", frame.to_arrow())
    try:
        con.execute(
            f"insert into {MODEL_TABLE} select ?, ?, position, feature, mean, scale, coef, ? "  # noqa: S608
            "from risk_model_frame",
            [fingerprint, as_of, fitted.intercept],
        )
    finally:
        con.unregister("risk_model_frame")


def _write_scores(con: duckdb.DuckDBPyConnection, current: pl.DataFrame, fitted: model.Fitted, as_of: datetime) -> int:
    """Score the as-of snapshot; a subject who may not be profiled is never written, whatever the input says."""
    contrib = model.contributions(fitted, to_matrix(current)) if current.height else None
    scores = current.select("tenant_id", "subject_key").with_columns(
        pl.lit(as_of).alias("scored_at"),
        pl.Series("score", model.probability(fitted, contrib) if contrib is not None else np.array([]),
                  dtype=pl.Float64),
        model.top_signals(current, contrib).alias("top_signals")
        if contrib is not None
        else pl.lit(None, dtype=pl.Utf8).alias("top_signals"),
    )
    con.execute(SCORES_DDL)
    con.register("risk_scores_frame", scores.to_arrow())
    try:
        con.execute(
            """
            insert into marts.withdrawal_risk_scores
            select s.tenant_id, s.subject_key, s.scored_at, s.score, s.top_signals
            from risk_scores_frame s
            where not exists (
                select 1 from intermediate.int_subjects_profiling_allowed p
                where p.tenant_id = s.tenant_id and p.subject_key = s.subject_key and not p.profiling_allowed
            )
            """
        )
    finally:
        con.unregister("risk_scores_frame")
    return con.execute("select count(*) from marts.withdrawal_risk_scores").fetchone()[0]


def _write_evaluation(
    con: duckdb.DuckDBPyConnection, result: RiskResult, train_until, test_from, test_until
) -> None:
    rows = pl.DataFrame(
        {
            "model": [m.model for m in result.metrics],
            "metric": [m.metric for m in result.metrics],
            "value": [m.value for m in result.metrics],
        }
    )
    con.execute(EVALUATION_DDL)
    con.register("risk_eval_frame", rows.to_arrow())
    try:
        con.execute(
            """
            insert into marts.withdrawal_risk_evaluation
            select model, metric, value, ?, ?, ?, ?, ?, ?, ?, ?, ?
            from risk_eval_frame
            """,
            [
                result.n_train,
                result.n_test,
                result.positives_train,
                result.positives_test,
                result.cutoff,
                train_until,
                test_from,
                test_until,
                result.as_of,
            ],
        )
    finally:
        con.unregister("risk_eval_frame")


def _skip(con: duckdb.DuckDBPyConnection, as_of: datetime, reason: str) -> RiskResult:
    """Empty score and evaluation tables (stale scores must not survive a run that could not train)."""
    log.info("withdrawal risk not trained: %s (input %s)", reason, FEATURES_TABLE)  # the result's report says it
    con.execute(SCORES_DDL)
    con.execute(EVALUATION_DDL)
    con.execute(f"drop table if exists {MODEL_TABLE}")
    return RiskResult(
        as_of=as_of, scored=0, n_train=0, n_test=0, positives_train=0, positives_test=0,
        cutoff=None, metrics=(), skipped_reason=reason,
    )
