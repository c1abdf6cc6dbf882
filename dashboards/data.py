"""The only module that opens the serving snapshot; every query checks the viewer's role first.

Roles (config/users.yml): manager sees aggregates only; marketing sees consent and audience
aggregates for its own tenants and may download its audiences; dpo sees everything, personal data
only through `lookup_subject`, which logs each access; engineer sees intake quality and runs.
Queries are bound (`$n` parameters; `$1` is always the tenant scope); identifiers come only from the
snapshot's own catalogue or from fixed fragments. The KPIs are `lethe.status`'s SQL, run here.
"""

# ruff: noqa: S608  (SQL text is assembled from fixed fragments and catalogue names; user values are always bound)
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import logging
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st
import yaml

from lethe import audience, status
from lethe.dsr.identity import DEFAULT_REGION, readings_in
from lethe.errors import ConfigError, LetheError
from lethe.fsutil import append_line
from lethe.risk.features import FEATURE_WORDS
from lethe.settings import PROJECT_ROOT, Settings, get_settings

log = logging.getLogger(__name__)

DEFAULT_USERS_FILE = PROJECT_ROOT / "config" / "users.yml"
ROLES = ("manager", "marketing", "dpo", "engineer")
QUERY_TTL_SECONDS = 300
STALE_AFTER_HOURS = 26  # a snapshot published longer ago than this is flagged on every page
DSR_QUEUE_LIMIT = 2000  # requests the queue shows; dsr_counts counts them all

# What each capability needs; every public query names its capability.
CAN: dict[str, frozenset[str]] = {
    "overview": frozenset({"manager", "dpo"}),
    "intake": frozenset({"manager", "dpo", "engineer"}),
    "runs": frozenset({"dpo", "engineer"}),
    "compliance": frozenset({"manager", "dpo"}),
    "consent": frozenset({"manager", "marketing", "dpo"}),
    "audience_counts": frozenset({"manager", "marketing", "dpo"}),
    "audience_download": frozenset({"marketing", "dpo"}),
    "detail": frozenset({"dpo"}),
    "subject": frozenset({"dpo"}),
}

class AccessDenied(LetheError):
    """A role asked for data it may not see."""


class SnapshotMissing(LetheError):
    """No snapshot has been published yet."""


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the role decides what every query returns."""

    username: str
    name: str
    role: str
    tenants: tuple[str, ...] | None  # None: every tenant


@dataclass(frozen=True)
class SnapshotInfo:
    """When the snapshot's data was judged (as_of) and when it was published."""

    as_of: datetime | None
    published_at: datetime | None
    marts: tuple[str, ...]


# ---------------------------------------------------------------- users and roles


def users_file() -> Path:
    """The file after `--users` on the app's command line (`lethe dashboard` passes it), else
    $LETHE_DASHBOARD_USERS, else config/users.yml."""
    argv = sys.argv
    if "--users" in argv[:-1]:
        return Path(argv[argv.index("--users") + 1])
    return get_settings().dashboard_users or DEFAULT_USERS_FILE


def load_users(path: Path | None = None) -> dict:
    """The authenticator's config (credentials, cookie); refuses users without a known role."""
    path = path or users_file()
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read dashboard users ({exc})") from None
    users = (config or {}).get("credentials", {}).get("usernames") or {}
    if not users:
        raise ConfigError(f"{path}: credentials.usernames is empty")
    for name, user in users.items():
        roles = user.get("roles") or []
        if len(roles) != 1 or roles[0] not in ROLES:
            raise ConfigError(f"{path}: credentials.usernames.{name}.roles must be one of {', '.join(ROLES)}")
        _user_tenants(path, name, user)
    return config


def _user_tenants(path: Path, name: str, user: dict) -> tuple[str, ...] | None:
    """A user's tenants: None (every tenant) only when `tenants` is left out; an empty list is no tenant at all."""
    if "tenants" not in user:
        return None
    tenants = user["tenants"]
    if not isinstance(tenants, list) or not all(isinstance(t, str) and t for t in tenants):
        raise ConfigError(
            f"{path}: credentials.usernames.{name}.tenants must be a list of tenant ids "
            "(leave it out for every tenant; [] for none)"
        )
    return tuple(tenants)


def viewer_for(username: str, config: dict | None = None) -> Viewer:
    """The viewer for a logged-in username, with role and tenants from the users file."""
    users = (config or load_users())["credentials"]["usernames"]
    if username not in users:
        raise AccessDenied(f"unknown dashboard user {username!r}")
    user = users[username]
    return Viewer(
        username=username,
        name=str(user.get("name") or username),
        role=user["roles"][0],
        tenants=_user_tenants(users_file(), username, user),
    )


def current_viewer() -> Viewer | None:
    """The viewer of this session, re-derived from the users file (never from a stored role)."""
    username = st.session_state.get("username")
    if not st.session_state.get("authentication_status") or not username:
        return None
    return viewer_for(username)


def cookie_key(settings: Settings) -> str:
    """The login cookie's signing key, derived from the deployment secret (not stored in config)."""
    return hmac.new(settings.secret_key, b"lethe-dashboard-cookie", hashlib.sha256).hexdigest()


def allowed(viewer: Viewer, capability: str) -> bool:
    return viewer.role in CAN[capability]


def _require(viewer: Viewer, capability: str) -> None:
    if not isinstance(viewer, Viewer) or viewer.role not in CAN[capability]:
        raise AccessDenied(f"role {getattr(viewer, 'role', '?')!r} may not read {capability}")


def _require_tenant(viewer: Viewer, tenant: str, doing: str) -> None:
    """Refuses `doing` (what the viewer asked for, in words) on a tenant outside a tenant-scoped viewer's own."""
    if viewer.tenants is not None and tenant not in viewer.tenants:
        raise AccessDenied(f"{viewer.username} may not {doing} of tenant {tenant!r}")


# ---------------------------------------------------------------- the snapshot connection


def _token(path: Path) -> tuple[int, int, int]:
    try:
        st_ = path.stat()
    except FileNotFoundError:
        raise SnapshotMissing(f"{path}: no snapshot published yet (run lethe publish)") from None
    return (st_.st_ino, st_.st_mtime_ns, st_.st_size)


class _Reader:
    """One read-only connection to the snapshot, reopened when the file is replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.token: tuple[int, int, int] | None = None
        self.con: duckdb.DuckDBPyConnection | None = None

    def _open(self) -> None:
        # An in-memory database that ATTACHes the file: DuckDB's instance cache would otherwise
        # hand back the replaced file's database for the same path.
        con = duckdb.connect(":memory:", config={"threads": "2"})
        status.use_utc(con)
        literal = str(self.path).replace("'", "''")
        con.execute(f"attach '{literal}' as snap (read_only)")
        con.execute("use snap")
        if self.con is not None:
            self.con.close()
        self.con = con

    def query(self, sql: str, params: Sequence[object]) -> pd.DataFrame:
        with self.lock:
            token = _token(self.path)
            if token != self.token or self.con is None:
                self._open()
                self.token = token
            assert self.con is not None
            return self.con.execute(sql, list(params)).df()


@st.cache_resource(show_spinner=False)
def _reader(path: str) -> _Reader:
    return _Reader(Path(path))


def snapshot_path() -> Path:
    return get_settings().snapshot


def snapshot_version() -> tuple[int, int, int]:
    """Which published file the app reads now: it changes whenever the pipeline republishes (after a purge, say),
    so a page can drop what it showed from the one before."""
    return _token(snapshot_path())


@st.cache_data(ttl=QUERY_TTL_SECONDS, show_spinner=False, max_entries=1024)
def _cached(path: str, token: tuple[int, int, int], sql: str, params: tuple) -> pd.DataFrame:
    del token  # part of the cache key: a republished snapshot is a new key
    return _reader(path).query(sql, params)


def _q(sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
    path = snapshot_path()
    return _cached(str(path), _token(path), sql, tuple(params)).copy()


def _catalogue() -> dict[tuple[str, str], tuple[str, ...]]:
    df = _q(
        "select table_schema, table_name, list(column_name order by ordinal_position) as cols "
        "from information_schema.columns where table_catalog = 'snap' group by all"
    )
    return {(r.table_schema, r.table_name): tuple(r.cols) for r in df.itertuples()}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _scope(viewer: Viewer) -> list[str] | None:
    return list(viewer.tenants) if viewer.tenants is not None else None


def _scope_for(viewer: Viewer, tenants: Sequence[str] | None = None) -> list[str] | None:
    """The tenant list a query is limited to: the filter chosen, within the viewer's tenants."""
    scope = _scope(viewer)
    if tenants:
        scope = [t for t in tenants if scope is None or t in scope]
    return scope


# ---------------------------------------------------------------- queries (one capability each)

# Every scoped query takes the tenant list as its first parameter `$1` (NULL: every tenant).
_TF = "($1::varchar[] is null or list_contains($1::varchar[], tenant_id))"
# Consent validity reasons that mean the evidence of a grant is defective.
DEFECTIVE_EVIDENCE = ("pre_ticked_box", "implied", "defective_evidence", "recording_missing")
# The capability each KPI needs (the rest need "overview").
KPI_CAPABILITY = {"consent_coverage_pct": "consent", "quarantined_rows": "intake"}


def available() -> set[str]:
    """`schema.table` names the snapshot carries."""
    return {f"{s}.{t}" for (s, t) in _catalogue()}


def _has(*tables: str) -> bool:
    have = available()
    return all(t in have for t in tables)


def _scoped(sql: str, viewer: Viewer, tenants: Sequence[str] | None, params: Sequence[object] = ()) -> pd.DataFrame:
    return _q(sql, [_scope_for(viewer, tenants), *params])


def snapshot_info() -> SnapshotInfo:
    """The snapshot's as-of time and publication time (shown on every page, to every role)."""
    df = _q("select as_of, published_at, marts from main.snapshot_info")
    if df.empty:
        return SnapshotInfo(None, None, ())
    row = df.iloc[0]
    return SnapshotInfo(_utc(row.as_of), _utc(row.published_at), tuple(row.marts))


def _utc(value: object) -> datetime | None:
    """A snapshot timestamp as an aware UTC datetime (naive ones are UTC already)."""
    if value is None or pd.isna(value):
        return None
    at = pd.Timestamp(value).to_pydatetime()
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def staleness(info: SnapshotInfo, now: datetime | None = None) -> str | None:
    """Why the snapshot's figures are old, or None: it was published more than STALE_AFTER_HOURS before now (wall
    clock: the pipeline that republishes it daily has stopped), or it was published lately but judges the data as
    of more than STALE_AFTER_HOURS before now (a build at an older --as-of, a backfill say, was published last:
    what is due, open or overdue is as it was then, not now)."""
    now = now or datetime.now(UTC)
    limit = timedelta(hours=STALE_AFTER_HOURS)
    if info.published_at is not None and now - info.published_at > limit:
        return "published"
    if info.as_of is not None and now - info.as_of > limit:
        return "as_of"
    return None


def tenants(viewer: Viewer) -> list[str]:
    """The tenants this viewer may see that appear anywhere in the snapshot."""
    sources = ["select tenant_id from intake.summary"]
    if _has("marts.dim_subjects"):
        sources.append("select tenant_id from marts.dim_subjects")
    df = _scoped(
        f"select distinct tenant_id from ({' union '.join(sources)}) where tenant_id is not null and {_TF}",
        viewer,
        None,
    )
    found = set(df.tenant_id)
    if viewer.tenants is not None:
        found |= set(viewer.tenants)
    return sorted(t for t in found if t != "_centre")


# ---- KPIs (one definition: lethe.status)


def kpis(
    viewer: Viewer, tenants: Sequence[str] | None = None, names: Sequence[str] | None = None
) -> tuple[dict[str, int | float], pd.DataFrame]:
    """The `lethe status` KPIs within the viewer's tenants: totals, and one row per tenant."""
    wanted = list(names) if names is not None else [k.name for k in status.KPIS]
    for name in wanted:
        _require(viewer, KPI_CAPABILITY.get(name, "overview"))
    have = available()
    df = _scoped(status.kpi_sql(have), viewer, tenants)
    rows = [r for r in df.itertuples(index=False, name=None) if r[0] in wanted]
    totals, per_tenant = status.summarise(rows, have)
    totals = {k: v for k, v in totals.items() if k in wanted}
    table = pd.DataFrame(
        [{"tenant_id": t, **{k: v for k, v in vals.items() if k in wanted}} for t, vals in per_tenant.items()]
    )
    return totals, table


# The snapshot's as-of as a (UTC) timestamp, like the marts' own: the reader's session is in UTC (status.use_utc).
_AS_OF = status.AS_OF_SQL
# Trends cover the 24 months up to the snapshot's as-of.
_SINCE = f"date_trunc('month', {_AS_OF} - interval 23 month)"
# Their months, as a table of `month` (the first of each, up to the as-of's month).
_MONTHS = (
    f"(select unnest(generate_series({_SINCE}::timestamp, date_trunc('month', {_AS_OF}), interval 1 month)) "
    "as month)"
)


def trends(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame:
    """Per month over two years: violations, requests received, consents withdrawn, records purged. Every month of
    the two years is there for each series the snapshot can count, 0 when nothing happened (a chart that skipped
    the month drew a line from the month before to the month after, as if there had been events in between). The
    events end with the last month begun before the as-of; the purges with the as-of's month."""
    _require(viewer, "overview")
    # series: the rows it counts (a month, a tenant and how many each row stands for)
    sources = {
        "violations": (
            "marts.fct_violations",
            "select occurred_at as happened_at, tenant_id, 1 as n from marts.fct_violations",
        ),
        "requests received": (
            "marts.fct_dsr_requests",
            "select received_at as happened_at, tenant_id, 1 as n from marts.fct_dsr_requests",
        ),
        "consents withdrawn": (
            "marts.fct_consent_status",
            "select status_since as happened_at, tenant_id, 1 as n from marts.fct_consent_status "
            "where consent_status = 'withdrawn'",
        ),
        "records purged": (
            "audit.purge_counts",
            "select as_of as happened_at, tenant_id, record_count as n from audit.purge_counts "
            "where status = 'completed'",
        ),
    }
    present = {series: sql for series, (table, sql) in sources.items() if _has(table)}
    if not present:
        return pd.DataFrame(columns=["month", "series", "count"])
    counted = " union all ".join(
        f"select date_trunc('month', happened_at)::timestamp as month, '{series}' as series, sum(n) as count "
        f"from ({sql}) where happened_at >= {_SINCE} and {_TF} group by all"
        for series, sql in present.items()
    )
    names = ", ".join(f"('{series}')" for series in present)
    return _scoped(
        f"""
        with counted as ({counted})
        select m.month, s.series, coalesce(c.count, 0)::bigint as count
        from {_MONTHS} m cross join (values {names}) s(series)
        left join counted c on c.month = m.month and c.series = s.series
        -- a month that begins at the as-of has had no time for events yet: 0 there would read as a fall to
        -- nothing. A purge judged at that instant belongs to it.
        where m.month < {_AS_OF} or s.series = 'records purged'
        order by m.month, s.series
        """,  # noqa: S608 (our SQL)
        viewer,
        tenants,
    )


# ---- intake, quality, runs


def intake_summary(viewer: Viewer, tenants: Sequence[str] | None = None, search: str = "") -> pd.DataFrame:
    """Per tenant and dataset: files and rows loaded, quarantined, duplicates skipped."""
    _require(viewer, "intake")
    return _scoped(
        "select tenant_id, dataset, files, files_quarantined, rows_loaded, rows_quarantined, "
        f"duplicates_skipped, last_loaded_at from intake.summary where {_TF}"
        " and ($2 = '' or contains(lower(dataset), lower($2))) order by tenant_id, dataset",
        viewer,
        tenants,
        [search],
    )


def quarantine_reasons(
    viewer: Viewer, tenants: Sequence[str] | None = None, search: str = ""
) -> pd.DataFrame:
    """Quarantined rows and files by tenant, dataset, rule and reason, most frequent first."""
    _require(viewer, "intake")
    return _scoped(
        f"select tenant_id, dataset, scope, rule, reason, count from intake.quarantine_reasons where {_TF}"
        " and ($2 = '' or contains(lower(coalesce(reason, '') || ' ' || coalesce(rule, '') || ' ' || dataset),"
        " lower($2))) order by count desc, tenant_id, dataset limit 500",
        viewer,
        tenants,
        [search],
    )


def validation_results(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Data-contract results per dataset and rule: expectations run, failed, unexpected values."""
    _require(viewer, "intake")
    if not _has("intake.validation_results"):
        return None
    return _scoped(
        "select dataset, rule, column_name, count(*) as batches, count(*) filter (where not success) as failed, "
        "sum(unexpected_count) as unexpected_values, sum(element_count) as rows_checked, "
        f"max(validated_at) as last_validated_at from intake.validation_results where {_TF} "
        "group by all order by failed desc, unexpected_values desc, dataset, rule",
        viewer,
        tenants,
    )


def _live_log(name: str, columns: dict[str, str], sql: str) -> pd.DataFrame | None:
    """`sql` over the Airflow callbacks' log as written now ($LETHE_HOME/runs/<name>.jsonl, as table
    pipeline.<name>), or None when this process cannot read it. Only the enforce DAG publishes the snapshot, so
    its copy never holds the failure of an ingest or transform run, which stops the chain before enforce."""
    from lethe.publish import jsonl_select

    path = get_settings().runs_dir / f"{name}.jsonl"
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
        con = duckdb.connect(":memory:")
        try:
            status.use_utc(con)
            con.execute("create schema pipeline")
            con.execute(f"create table pipeline.{name} as {jsonl_select(path, columns)}")
            return con.execute(sql).df()
        finally:
            con.close()
    except (OSError, duckdb.Error) as exc:
        log.warning("could not read %s (%s): showing the snapshot's copy", path, exc)
        return None


def pipeline_runs(viewer: Viewer) -> pd.DataFrame:
    """DAG runs recorded by the Airflow callbacks, newest first: from the live log when this process can read
    it (a failed ingest or transform run shows at once), else the snapshot's copy."""
    from lethe.publish import RUNS_COLUMNS

    _require(viewer, "runs")
    sql = ("select dag_id, run_id, state, run_type, data_interval_end, start_date, end_date, reason "
           "from pipeline.runs order by end_date desc nulls last limit 1000")
    live = _live_log("runs", RUNS_COLUMNS, sql)
    return live if live is not None else _q(sql)


def pipeline_failures(viewer: Viewer) -> pd.DataFrame:
    """Failed tasks with their reasons, newest first (the live log, else the snapshot's copy, as pipeline_runs)."""
    from lethe.publish import FAILURES_COLUMNS

    _require(viewer, "runs")
    sql = ("select \"at\", dag_id, task_id, map_index, run_id, try_number, reason "
           "from pipeline.failures order by \"at\" desc nulls last limit 1000")
    live = _live_log("failures", FAILURES_COLUMNS, sql)
    return live if live is not None else _q(sql)


# ---- retention


def retention_summary(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Records due per tenant, category and reason, with how many are past due and the oldest."""
    _require(viewer, "compliance")
    if not _has("marts.retention_due"):
        return None
    return _scoped(
        "select tenant_id, data_category, reason, action, count(*) as due, "
        "count(*) filter (where days_past_due > 0) as past_due, max(days_past_due) as max_days_past_due "
        f"from marts.retention_due where {_TF} group by all order by due desc",
        viewer,
        tenants,
    )


def retention_aging(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Due records by how long past due (marts.retention_aging buckets), per category."""
    _require(viewer, "compliance")
    if not _has("marts.retention_aging"):
        return None
    return _scoped(
        "select age_bucket, age_bucket_order, data_category, sum(record_count) as records, "
        f"max(max_days_past_due) as max_days_past_due from marts.retention_aging where {_TF} "
        "group by all order by age_bucket_order, data_category",
        viewer,
        tenants,
    )


def retention_held(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Records held per tenant and category: kept, due, under legal hold, kept past their due date because the
    subject's processing is restricted (GDPR Art. 18), falling due within 30 days."""
    _require(viewer, "compliance")
    if not _has("marts.fct_retention_status"):
        return None
    return _scoped(
        "select tenant_id, data_category, count(*) as records, "
        "count(*) filter (where is_due and not is_held) as due, "
        "count(*) filter (where is_held) as under_legal_hold, "
        f"count(*) filter (where is_restricted and not is_held and not is_due and due_at <= {_AS_OF}) "
        "as kept_restricted, "
        "count(*) filter (where is_active_customer) as active_customer, "
        f"count(*) filter (where not is_held and not is_restricted and due_at > {_AS_OF} "
        f"and due_at <= {_AS_OF} + interval 30 day) as due_within_30_days "
        f"from marts.fct_retention_status where {_TF} group by all order by tenant_id, data_category",
        viewer,
        tenants,
    )


def purge_history(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame:
    """Purge runs from the audit log: as-of, status, and within the viewer's tenants the records the run planned
    and those it erased (all it planned once completed; none when refused or abandoned before it executed;
    unknown, empty, while it is unfinished or when its verification failed)."""
    _require(viewer, "compliance")
    # A user of some tenants sees the retention runs (they cover every tenant) and the erasures of their own
    # tenants' people, not another client's erasures; nor a run's reason, which may name another client, its
    # tables and the server's paths: "refused" is theirs to know, the why is the centre's DPO's.
    scoped = viewer.tenants is not None
    reason = "case when p.reason is null then null else 'see the audit log (ask the DPO)' end" if scoped else "p.reason"
    which = "p.kind = 'retention' or c.records > 0" if scoped else "true"
    return _scoped(
        "select p.run_id, p.kind, p.as_of, p.finished_at, p.status, coalesce(c.records, 0) as records_planned, "
        "case when p.status = 'completed' then coalesce(c.records, 0) "
        "when p.status in ('refused', 'abandoned') then 0 end as records_erased, "
        f"{reason} as reason from audit.purges p left join ("
        f"select run_id, sum(record_count) as records from audit.purge_counts where {_TF} group by 1"
        f") c using (run_id) where {which} order by p.planned_at desc nulls last limit 500",
        viewer,
        tenants,
    )


def purge_breakdown(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame:
    """Records erased per completed purge run, tenant, category, reason and action."""
    _require(viewer, "compliance")
    return _scoped(
        "select run_id, as_of, tenant_id, data_category, reason, action, record_count "
        f"from audit.purge_counts where status = 'completed' and {_TF} "
        "order by as_of desc, tenant_id, data_category, reason limit 2000",
        viewer,
        tenants,
    )


# ---- consent


def consent_coverage(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Marketing consents on record per purpose and channel: how many, how many valid, the share valid."""
    _require(viewer, "consent")
    if not _has("marts.fct_consent_status"):
        return None
    return _scoped(
        "select purpose_name, channel, count(*) as consents, count(*) filter (where is_valid) as valid, "
        "round(100.0 * count(*) filter (where is_valid) / count(*), 1) as coverage_pct, "
        "count(*) filter (where consent_status = 'withdrawn') as withdrawn "
        f"from marts.fct_consent_status where is_marketing and {_TF} group by all "
        "order by purpose_name, channel",
        viewer,
        tenants,
    )


def consent_reasons(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Why marketing consents do not count, per reason, purpose and channel (defective evidence flagged)."""
    _require(viewer, "consent")
    if not _has("marts.fct_consent_status"):
        return None
    return _scoped(
        "select validity_reason, list_contains($2::varchar[], validity_reason) as defective_evidence, "
        "purpose_name, channel, count(*) as consents from marts.fct_consent_status "
        f"where is_marketing and not is_valid and {_TF} group by all order by consents desc",
        viewer,
        tenants,
        [list(DEFECTIVE_EVIDENCE)],
    )


def withdrawals_by_month(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Consents currently withdrawn, by the month (last two years) the withdrawal began and channel."""
    _require(viewer, "consent")
    if not _has("marts.fct_consent_status"):
        return None
    # every month (those begun before the as-of) for every channel with a withdrawal: on the chart a month
    # without one is an empty place on the axis, not a month left out
    return _scoped(
        f"""
        with counted as (
            select date_trunc('month', status_since)::timestamp as month, channel, count(*) as withdrawals
            from marts.fct_consent_status
            where consent_status = 'withdrawn' and status_since >= {_SINCE} and {_TF}
            group by all
        )
        select m.month, ch.channel, coalesce(c.withdrawals, 0) as withdrawals
        from {_MONTHS} m
        cross join (select distinct channel from counted) ch
        left join counted c on c.month = m.month and c.channel = ch.channel
        where m.month < {_AS_OF}
        order by m.month, ch.channel
        """,  # noqa: S608 (our SQL)
        viewer,
        tenants,
    )


def violations_summary(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Violations per tenant, type and channel: how many, subjects affected, the latest."""
    _require(viewer, "compliance")
    if not _has("marts.fct_violations"):
        return None
    return _scoped(
        "select tenant_id, violation_type, channel, count(*) as violations, "
        "count(distinct subject_key) as subjects, max(occurred_at) as latest "
        f"from marts.fct_violations where {_TF} group by all order by violations desc",
        viewer,
        tenants,
    )


def violation_evidence(viewer: Viewer, tenants: Sequence[str] | None = None, limit: int = 1000) -> pd.DataFrame | None:
    """The newest violations with their evidence (source record, consent, withdrawal): the DPO only."""
    _require(viewer, "detail")
    if not _has("marts.fct_violations"):
        return None
    return _scoped(
        "select occurred_at, tenant_id, violation_type, channel, purpose_name, campaign_id, source_table, "
        "record_id, message_id, consent_id, consent_reason, withdrawal_event_id, withdrawn_at, delay_days, "
        f"subject_key from marts.fct_violations where {_TF} order by occurred_at desc limit $2",
        viewer,
        tenants,
        [int(limit)],
    )


# ---- withdrawal risk

_BANDS = (
    (0.0, "under the base rate"),
    (1.0, "1-2x base rate"),
    (2.0, "2-3x base rate"),
    (status.HIGH_RISK_MULTIPLE, f"high: {status.HIGH_RISK_MULTIPLE:g}-5x"),
    (5.0, "high: 5-10x"),
    (10.0, "high: 10x and more"),
)


def risk_distribution(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Scored subjects per score band, in multiples of the base withdrawal rate."""
    _require(viewer, "compliance")
    if not _has("marts.withdrawal_risk_scores"):
        return None
    lows = [b for b, _ in _BANDS]
    names = [n for _, n in _BANDS]
    return _scoped(
        f"with base as (select {status.BASE_RATE_SQL} as rate), banded as ("
        "select len(list_filter($2::double[], x -> score >= x * rate)) as band "
        f"from marts.withdrawal_risk_scores, base where {_TF}) "
        # every band, 0 where nobody scores in it (a chart without the empty bands hides where nobody is)
        "select b.i - 1 as band_order, list_extract($3::varchar[], b.i) as band, count(s.band) as subjects "
        "from (select unnest(range(1, len($3::varchar[]) + 1)) as i) b left join banded s on s.band = b.i "
        "group by all order by band_order",
        viewer,
        tenants,
        [lows, names],
    )


def risk_signals(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """How often each signal is among the top three reasons of high-risk subjects: the signal in words, the
    subjects, and their share of the high-risk subjects (%)."""
    _require(viewer, "compliance")
    if not _has("marts.withdrawal_risk_scores"):
        return None
    df = _scoped(
        "with high as (select top_signals from marts.withdrawal_risk_scores "
        f"where {status.HIGH_RISK_SQL} and {_TF}) "
        "select regexp_extract(signal, '^([A-Za-z0-9_]+)', 1) as signal, count(*) as high_risk_subjects, "
        "round(100.0 * count(*) / (select count(*) from high), 1) as share_of_high_risk_pct "
        "from (select unnest(string_split(top_signals, '; ')) as signal from high) where signal <> '' group by all "
        "order by high_risk_subjects desc, signal",
        viewer,
        tenants,
    )
    df["signal"] = df["signal"].map(FEATURE_WORDS).fillna(df["signal"])
    return df


def risk_segments(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Scored and high-risk subjects per tenant and customer status, with the mean score."""
    _require(viewer, "compliance")
    if not _has("marts.withdrawal_risk_scores"):
        return None
    status_col = "coalesce(d.customer_status, 'unknown')" if _has("marts.dim_subjects") else "'unknown'"
    join = (
        "left join marts.dim_subjects d using (tenant_id, subject_key)" if _has("marts.dim_subjects") else ""
    )
    return _scoped(
        f"select s.tenant_id, {status_col} as customer_status, count(*) as scored, "
        f"count(*) filter (where {status.HIGH_RISK_SQL}) as high_risk, "
        "round(100.0 * count(*) filter (where " + status.HIGH_RISK_SQL + ") / count(*), 1) as high_risk_pct, "
        f"round(avg(score), 4) as mean_score from marts.withdrawal_risk_scores s {join} "
        f"where {_TF.replace('tenant_id', 's.tenant_id')} group by all order by high_risk desc",
        viewer,
        tenants,
    )


def risk_evaluation(viewer: Viewer) -> pd.DataFrame | None:
    """The model against the recency baseline on the held-out period, one row per metric."""
    _require(viewer, "compliance")
    if not _has("marts.withdrawal_risk_evaluation"):
        return None
    # one model over every tenant's subjects: a user of some tenants gets its quality, not how many people the
    # other clients have (the numbers of snapshots it was trained and tested on)
    counts = "null::bigint as n_train, null::bigint as n_test" if viewer.tenants is not None else (
        "any_value(n_train) as n_train, any_value(n_test) as n_test")
    return _q(
        "select metric, max(value) filter (where model = 'logistic_regression') as model, "
        "max(value) filter (where model = 'recency_baseline') as recency_baseline, "
        f"{counts}, any_value(train_until) as train_until, "
        "any_value(test_from) as test_from, any_value(test_until) as test_until "
        "from marts.withdrawal_risk_evaluation group by metric order by metric"
    )


# ---- audiences


def audience_counts(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Eligible subjects per tenant, purpose and channel."""
    _require(viewer, "audience_counts")
    if not _has("marts.audience_eligible"):
        return None
    return _scoped(
        "select tenant_id, purpose_name, channel, count(distinct subject_key) as eligible "
        f"from marts.audience_eligible where {_TF} group by all order by tenant_id, purpose_name, channel",
        viewer,
        tenants,
    )


def audience_reach(viewer: Viewer, tenants: Sequence[str] | None = None) -> int | None:
    """Distinct subjects eligible for at least one audience."""
    _require(viewer, "audience_counts")
    if not _has("marts.audience_eligible"):
        return None
    df = _scoped(
        f"select count(distinct (tenant_id, subject_key)) as n from marts.audience_eligible where {_TF}",
        viewer,
        tenants,
    )
    return int(df.n.iloc[0])


def audience_exclusions(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Subjects each audience leaves out, by the first reason that applies."""
    _require(viewer, "audience_counts")
    if not _has("marts.audience_exclusions"):
        return None
    return _scoped(
        "select tenant_id, purpose_name, channel, exclusion_reason, sum(subject_count) as subjects "
        f"from marts.audience_exclusions where {_TF} group by all order by subjects desc",
        viewer,
        tenants,
    )


def audience_download(viewer: Viewer, tenant: str, purpose: str, channel: str) -> bytes:
    """The audience as CSV `subject_key,address` (CONTRACT) for one tenant the viewer may contact."""
    _require(viewer, "audience_download")
    _require_tenant(viewer, tenant, "download audiences")
    if not _has("restricted.audience_eligible"):
        raise SnapshotMissing("the audience mart is not available yet: run lethe build, then lethe publish")
    # lethe.audience.read_audience's query: one row per subject (two purposes may share a Name), ordered by key
    df = _q(
        "select subject_key, min(address) as address from restricted.audience_eligible where tenant_id = $1 "
        "and lower(trim(purpose_name)) = lower(trim($2)) and channel = lower($3) "
        "group by subject_key order by subject_key",
        [tenant, purpose, channel],
    )
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")  # as `lethe audience` writes it
    writer.writerow(audience.HEADER)
    writer.writerows(df[list(audience.HEADER)].itertuples(index=False, name=None))
    return buf.getvalue().encode()


# ---- data-subject requests and breaches


def dsr_summary(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Requests per tenant, type and status."""
    _require(viewer, "compliance")
    if not _has("marts.fct_dsr_requests"):
        return None
    return _scoped(
        "select tenant_id, request_type, status, count(*) as requests from marts.fct_dsr_requests "
        f"where {_TF} group by all order by tenant_id, request_type, status",
        viewer,
        tenants,
    )


def dsr_queue(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """The first DSR_QUEUE_LIMIT requests not done, most urgent first, with due dates, SLA status and what Lethe did with each (or why it
    could not act: no match, several matches, a legal hold, not verified yet).

    The DPO also gets the subject key and whether the subject's processing is restricted or objected to.
    """
    _require(viewer, "compliance")
    if not _has("marts.fct_dsr_requests"):
        return None
    cols = "r.tenant_id, r.request_id, r.request_type, r.received_at, r.due_at, r.days_left, r.status"
    if "is_extended" in _catalogue().get(("marts", "fct_dsr_requests"), ()):  # a snapshot from before it lacks it
        cols += ", r.is_extended as extended"  # Art. 12(3): due two months later, the requester told in time
    if "processing_outcome" in _catalogue().get(("marts", "fct_dsr_requests"), ()):  # a snapshot from before it lacks it
        # what Lethe did, or why it could not act: no_match and ambiguous need the DPO to ask the requester
        # (verified and never acted on: 'pending', which the next pipeline run processes)
        cols += (", coalesce(r.processing_outcome, case when r.verified_at is null then 'not verified' "
                 "else 'pending' end) as lethe_outcome")
    join = ""
    if allowed(viewer, "detail"):
        cols += ", r.subject_key, r.is_subject_found"
        if _has("marts.dim_subjects"):
            cols += (
                ", case when d.is_restricted then 'restricted' when d.is_objecting then 'objecting' "
                "else '' end as processing"
            )
            join = "left join marts.dim_subjects d using (tenant_id, subject_key)"
    return _scoped(
        f"select {cols} from marts.fct_dsr_requests r {join} "
        f"where r.status <> 'done' and {_TF.replace('tenant_id', 'r.tenant_id')} "
        "order by r.days_left, r.due_at limit $2",
        viewer,
        tenants,
        [DSR_QUEUE_LIMIT],
    )


def dsr_counts(viewer: Viewer, tenants: Sequence[str] | None = None) -> dict[str, int] | None:
    """Over every request (not just the queue's first rows): how many are not done, and how many open ones fall
    due within 7 days."""
    _require(viewer, "compliance")
    if not _has("marts.fct_dsr_requests"):
        return None
    df = _scoped(
        "select count(*) filter (where status <> 'done') as not_done, "
        "count(*) filter (where status = 'open' and days_left <= 7) as due_within_7_days "
        f"from marts.fct_dsr_requests where {_TF}",
        viewer,
        tenants,
    )
    return {name: int(df[name].iloc[0]) for name in df.columns}


def breaches(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Breaches and their 72-hour clock, newest first."""
    _require(viewer, "compliance")
    if not _has("marts.fct_breaches"):
        return None
    return _scoped(
        "select breach_id, tenant_id, detected_at, notify_deadline_at, authority_notified_at, hours_to_notify, "
        "case when is_open and is_past_clock then 'past 72 h, not notified' when is_open then 'clock running' "
        "when notified_within_72h then 'notified in time' else 'notified late' end as clock, "
        f"subjects_affected, data_categories from marts.fct_breaches where {_TF} order by detected_at desc",
        viewer,
        tenants,
    )


def training_gaps(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Contacts handled without valid training in the KPI window, per tenant and reason."""
    _require(viewer, "compliance")
    if not _has("marts.fct_agent_training_gaps"):
        return None
    return _scoped(
        "select tenant_id, gap_reason, count(distinct agent_key) as agents, count(*) as contacts "
        f"from marts.fct_agent_training_gaps where contacted_at > {_AS_OF} "
        f"- interval {status.AGENT_WINDOW_DAYS} day and {_TF} group by all order by contacts desc",
        viewer,
        tenants,
    )


# ---------------------------------------------------------------- DPO subject lookup (logged)


def access_log_path() -> Path:
    return get_settings().home / "audit" / "dpo_access.jsonl"


def _log_access(viewer: Viewer, tenant: str, subject_keys: list[str], reason: str, matched: int) -> None:
    """Append one entry (who, when, which subjects, why), chained to the previous entry's hash."""
    path = access_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    prev = ""
    if path.exists() and path.stat().st_size:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 65536))
            last = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        prev = hashlib.sha256(last).hexdigest()
    entry = {
        "at": datetime.now(UTC).isoformat(),
        "user": viewer.username,
        "role": viewer.role,
        "tenant": tenant,
        "subject_keys": subject_keys,
        "matched": matched,
        "reason": reason,
        "prev": prev,
    }
    append_line(path, json.dumps(entry, sort_keys=True))


# A search term read as a phone: digits with the usual separators, nothing else (an email or an id is not one).
_PHONE_LIKE = re.compile(r"\+?[0-9 ().-]*[0-9][0-9 ().-]*")


def _tenant_regions(tenant: str) -> list[str]:
    """The regions the tenant's phones were read in at ingest, the most common first (published by lethe.publish)."""
    if _has("main.tenant_regions"):
        df = _q("select region from main.tenant_regions where tenant_id = $1 order by region_order", [tenant])
        if not df.empty:
            return list(df.region)
    return [DEFAULT_REGION]


def _phone_candidates(tenant: str, term: str) -> list[str]:
    """Every E.164 number a search term may be, read as `lethe dsar` reads --phone (identity.phone_candidates):
    as written when international ('+'), else in national format in each of the tenant's regions; none when
    the term does not look like a phone."""
    if not _PHONE_LIKE.fullmatch(term):
        return []
    return list(readings_in(term, [DEFAULT_REGION] if term.startswith("+") else _tenant_regions(tenant)))


# what a reason may not hold: an email address, a phone written internationally, or one valid in the tenant's regions
_EMAIL_IN_TEXT = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_INTERNATIONAL_PHONE = re.compile(r"\+[0-9][0-9 ().-]{5,}[0-9]")


def reason_problem(tenant: str, reason: str) -> str | None:
    """Why the reason for a lookup may not go into the access log, or None: the log keeps it after the person is
    erased (it records who looked, not who was looked up), so it must not hold the person's email or phone."""
    import phonenumbers

    found = _EMAIL_IN_TEXT.search(reason) or _INTERNATIONAL_PHONE.search(reason) or any(
        True for region in _tenant_regions(tenant)
        for _ in phonenumbers.PhoneNumberMatcher(reason, region, leniency=phonenumbers.Leniency.VALID)
    )
    if found:
        return ("the reason holds an email or a phone number: give the request id instead (the access log keeps "
                "the reason after the person is erased)")
    return None


def lookup_subject(viewer: Viewer, tenant: str, term: str, reason: str) -> dict[str, pd.DataFrame]:
    """Everything the snapshot holds on one subject, found by CRM id, email, phone or subject key.

    DPO only, within the DPO's tenants; a reason is required and every lookup (found or not) is logged.
    """
    _require(viewer, "subject")
    _require_tenant(viewer, tenant, "look up subjects")
    term = (term or "").strip()
    reason = (reason or "").strip()
    if not reason:
        raise AccessDenied("a reason is required to look up a data subject")
    problem = reason_problem(tenant, reason)
    if problem:
        raise AccessDenied(problem)
    if not term:
        return {}
    previous = _has("restricted.subject_previous_addresses")
    # an address a CRM contact held before and nobody holds now names that contact's person (as in `lethe dsar`)
    by_previous = (
        " or crm_contact_id in (select crm_contact_id from restricted.subject_previous_addresses "
        "where tenant_id = $1 and (lower(address) = lower($2) or list_contains($3::varchar[], address)))"
        if previous else ""
    )
    identity = _q(
        "select * from restricted.subjects where tenant_id = $1 and ("
        "crm_contact_id = $2 or subject_key = $2 or lower(email) = lower($2) "
        f"or list_contains($3::varchar[], phone) or list_contains($3::varchar[], mobile_phone){by_previous}) limit 20",
        [tenant, term, _phone_candidates(tenant, term)],
    )
    keys = sorted(set(identity.subject_key)) if not identity.empty else []
    _log_access(viewer, tenant, keys, reason, len(identity))
    found: dict[str, pd.DataFrame] = {"identity": identity}
    if not keys:
        return found
    if previous:
        # every old address of the person's contacts (the subject's contacts, not only those the term matched)
        old = _q(
            "select p.* from restricted.subject_previous_addresses p join restricted.subjects s "
            "on s.tenant_id = p.tenant_id and s.crm_contact_id = p.crm_contact_id "
            "where p.tenant_id = $1 and list_contains($2::varchar[], s.subject_key) order by p.crm_contact_id, p.address",
            [tenant, keys],
        )
        if not old.empty:
            found["restricted.subject_previous_addresses"] = old
    catalogue = _catalogue()
    for (schema, name), cols in sorted(catalogue.items()):
        if schema not in ("marts", "restricted") or "subject_key" not in cols or name == "subjects":
            continue
        if schema == "marts" and ("restricted", name) in catalogue:
            continue  # the restricted copy of the same mart is shown instead
        df = _q(
            f"select * from {schema}.{_ident(name)} where list_contains(?::varchar[], subject_key) limit 500",
            [keys],
        )
        if not df.empty:
            found[f"{schema}.{name}"] = df
    return found
