"""The only module that opens the serving snapshot; every query checks the viewer's role first.

Roles (config/users.yml): manager sees aggregates only; marketing sees consent and audience
aggregates for its own tenants and may download its audiences; dpo sees everything, personal data
only through `lookup_subject`, which logs each access; engineer sees intake quality and runs.
Queries are bound (`?` parameters); identifiers come only from the snapshot's own catalogue.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st
import yaml

from lethe.errors import ConfigError, LetheError
from lethe.settings import PROJECT_ROOT, Settings, get_settings

log = logging.getLogger(__name__)

DEFAULT_USERS_FILE = PROJECT_ROOT / "config" / "users.yml"
ROLES = ("manager", "marketing", "dpo", "engineer")
QUERY_TTL_SECONDS = 300

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

# Marts each page reads, by preference; the first one present in the snapshot is used.
MARTS: dict[str, tuple[str, ...]] = {
    "retention": ("retention_due",),
    "retention_aging": ("retention_aging", "fct_retention_aging"),
    "consent": ("consent_status", "fct_consent_status", "consent_coverage", "consent_ledger", "fct_consents"),
    "violations": ("consent_violations", "fct_consent_violations", "violations"),
    "withdrawals": ("consent_withdrawals", "fct_consent_withdrawals", "withdrawals"),
    "risk": ("withdrawal_risk", "fct_withdrawal_risk", "withdrawal_risk_scores"),
    "risk_eval": ("withdrawal_risk_evaluation", "withdrawal_model_evaluation", "risk_model_evaluation"),
    "audience": ("audience", "audiences", "audience_eligible", "marketing_audience"),
    "exclusions": ("audience_exclusions", "fct_audience_exclusions"),
    "dsr": ("dsr_requests", "fct_dsr_requests", "dsr_status"),
    "breaches": ("breaches", "fct_breaches", "breach_clock"),
    "agents": ("agents_without_training", "agent_training", "fct_agent_training", "untrained_agents"),
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
    """config/users.yml, or the file after `--users` on the app's command line (lethe dashboard)."""
    argv = sys.argv
    if "--users" in argv[:-1]:
        return Path(argv[argv.index("--users") + 1])
    return DEFAULT_USERS_FILE


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
    return config


def viewer_for(username: str, config: dict | None = None) -> Viewer:
    """The viewer for a logged-in username, with role and tenants from the users file."""
    users = (config or load_users())["credentials"]["usernames"]
    if username not in users:
        raise AccessDenied(f"unknown dashboard user {username!r}")
    user = users[username]
    tenants = user.get("tenants")
    return Viewer(
        username=username,
        name=str(user.get("name") or username),
        role=user["roles"][0],
        tenants=tuple(tenants) if tenants else None,
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


_TENANT_FILTER = "(?::varchar[] is null or list_contains(?::varchar[], tenant_id))"


def _where(cols: Sequence[str], viewer: Viewer, tenants: Sequence[str] | None) -> tuple[str, list[object]]:
    """The tenant restriction for a table: always applied when the table has a tenant column."""
    if "tenant_id" in cols:
        return _TENANT_FILTER, _tenant_params(viewer, tenants)
    if viewer.tenants is not None:
        return "false", []  # a tenant-scoped viewer sees nothing from a table it cannot scope
    return "true", []


def _tenant_params(viewer: Viewer, tenants: Sequence[str] | None = None) -> list[object]:
    """The tenant list a query is limited to: the filter chosen, within the viewer's tenants."""
    scope = _scope(viewer)
    if tenants:
        chosen = [t for t in tenants if scope is None or t in scope]
        scope = chosen
    return [scope, scope]


# ---------------------------------------------------------------- queries (one capability each)


def snapshot_info() -> SnapshotInfo:
    """The snapshot's as-of time and publication time (shown on every page, to every role)."""
    df = _q("select as_of, published_at, marts from main.snapshot_info")
    if df.empty:
        return SnapshotInfo(None, None, ())
    row = df.iloc[0]
    return SnapshotInfo(row.as_of.to_pydatetime(), row.published_at.to_pydatetime(), tuple(row.marts))


def tenants(viewer: Viewer) -> list[str]:
    """The tenants this viewer may see that appear anywhere in the snapshot."""
    df = _q(
        "select distinct tenant_id from intake.summary where tenant_id is not null and (?::varchar[] is null or list_contains(?::varchar[], tenant_id))",
        _tenant_params(viewer),
    )
    found = set(df.tenant_id)
    audience = mart_name("audience")
    if audience:
        df2 = _q(
            f"select distinct tenant_id from marts.{_ident(audience)} where " + _TENANT_FILTER,  # noqa: S608
            _tenant_params(viewer),
        )
        found |= set(df2.tenant_id)
    if viewer.tenants is not None:
        found |= set(viewer.tenants)
    return sorted(t for t in found if t != "_centre" or viewer.tenants is None)


def intake_summary(viewer: Viewer, tenants: Sequence[str] | None = None, search: str = "") -> pd.DataFrame:
    """Per tenant and dataset: files and rows loaded, quarantined, duplicates skipped."""
    _require(viewer, "intake")
    return _q(
        "select tenant_id, dataset, files, files_quarantined, rows_loaded, rows_quarantined, "
        "duplicates_skipped, last_loaded_at from intake.summary where "
        "(?::varchar[] is null or list_contains(?::varchar[], tenant_id))"
        " and (? = '' or contains(lower(dataset), lower(?))) order by tenant_id, dataset",
        [*_tenant_params(viewer, tenants), search, search],
    )


def quarantine_reasons(
    viewer: Viewer, tenants: Sequence[str] | None = None, search: str = ""
) -> pd.DataFrame:
    """Quarantined rows and files by tenant, dataset, rule and reason, most frequent first."""
    _require(viewer, "intake")
    return _q(
        "select tenant_id, dataset, scope, rule, reason, count from intake.quarantine_reasons where "
        "(?::varchar[] is null or list_contains(?::varchar[], tenant_id))"
        " and (? = '' or contains(lower(coalesce(reason, '') || ' ' || coalesce(rule, '') || ' ' || dataset),"
        " lower(?))) order by count desc, tenant_id, dataset limit 500",
        [*_tenant_params(viewer, tenants), search, search],
    )


def validation_results(viewer: Viewer) -> pd.DataFrame | None:
    """Contract validation results per batch, when the ingest recorded them."""
    _require(viewer, "intake")
    if ("intake", "validation_results") not in _catalogue():
        return None
    return _q("select * from intake.validation_results limit 1000")


def pipeline_runs(viewer: Viewer) -> pd.DataFrame:
    """Pipeline runs recorded by the Airflow callbacks, newest first where a time is known."""
    _require(viewer, "runs")
    return _q("select * from pipeline.runs limit 1000")


def pipeline_failures(viewer: Viewer) -> pd.DataFrame:
    """Failed tasks with their reasons."""
    _require(viewer, "runs")
    return _q("select * from pipeline.failures limit 1000")


def mart_name(kind: str) -> str | None:
    """The mart the snapshot carries for a page's need, or None when it is not built yet."""
    names = {t for (s, t) in _catalogue() if s == "marts"}
    return next((m for m in MARTS[kind] if m in names), None)


def mart_columns(kind: str) -> tuple[str, ...]:
    name = mart_name(kind)
    return _catalogue().get(("marts", name), ()) if name else ()


def rollup(
    viewer: Viewer,
    capability: str,
    kind: str,
    by: Sequence[str],
    tenants: Sequence[str] | None = None,
) -> pd.DataFrame | None:
    """Rows and distinct subjects of a mart grouped by the wanted columns it has; None if absent."""
    _require(viewer, capability)
    name = mart_name(kind)
    if name is None:
        return None
    cols = _catalogue()[("marts", name)]
    dims = [c for c in by if c in cols]
    select = "".join(f"{_ident(c)}, " for c in dims)
    subjects = ", count(distinct subject_key) as subjects" if "subject_key" in cols else ""
    where, params = _where(cols, viewer, tenants)
    group = " group by all" if dims else ""
    order = " order by records desc" if dims else ""
    sql = (
        f"select {select}count(*) as records{subjects} from marts.{_ident(name)} where {where}{group}{order}"  # noqa: S608
    )
    return _q(sql, params)


def mart_rows(
    viewer: Viewer, kind: str, tenants: Sequence[str] | None = None, limit: int = 1000
) -> pd.DataFrame | None:
    """Rows of a mart (pseudonymous: subject keys, no names or addresses): the DPO only."""
    _require(viewer, "detail")
    name = mart_name(kind)
    if name is None:
        return None
    cols = _catalogue()[("marts", name)]
    where, params = _where(cols, viewer, tenants)
    return _q(f"select * from marts.{_ident(name)} where {where} limit ?", [*params, int(limit)])  # noqa: S608


def table(
    viewer: Viewer, capability: str, kind: str, tenants: Sequence[str] | None = None
) -> pd.DataFrame | None:
    """A small mart that holds no subject keys (model evaluation, breaches, agents) for a role."""
    _require(viewer, capability)
    name = mart_name(kind)
    if name is None:
        return None
    cols = _catalogue()[("marts", name)]
    keep = [c for c in cols if c not in {"subject_key", "record_id"} or viewer.role == "dpo"]
    where, params = _where(cols, viewer, tenants)
    select = ", ".join(_ident(c) for c in keep)
    return _q(f"select {select} from marts.{_ident(name)} where {where} limit 5000", params)  # noqa: S608


def retention_summary(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Records due per tenant, category and reason, with how many are past due and the oldest."""
    _require(viewer, "compliance")
    if mart_name("retention") is None:
        return None
    return _q(
        "select tenant_id, data_category, reason, count(*) as due, "
        "count(*) filter (where days_past_due > 0) as past_due, max(days_past_due) as max_days_past_due "
        "from marts.retention_due where (?::varchar[] is null or list_contains(?::varchar[], tenant_id)) "
        "group by all order by due desc",
        _tenant_params(viewer, tenants),
    )


def retention_aging(viewer: Viewer, tenants: Sequence[str] | None = None) -> pd.DataFrame | None:
    """Due records by how long past due they are (0, 1-7, 8-30, 31-90, over 90 days)."""
    _require(viewer, "compliance")
    if mart_name("retention") is None:
        return None
    return _q(
        "select case when days_past_due <= 0 then '0 due today' when days_past_due <= 7 then '1-7 days' "
        "when days_past_due <= 30 then '8-30 days' when days_past_due <= 90 then '31-90 days' "
        "else 'over 90 days' end as aging, count(*) as records from marts.retention_due where "
        "(?::varchar[] is null or list_contains(?::varchar[], tenant_id))"
        " group by all order by min(days_past_due)",
        _tenant_params(viewer, tenants),
    )


def purge_history(viewer: Viewer) -> pd.DataFrame:
    """Purge runs from the audit log: when and how many records (no personal data)."""
    _require(viewer, "compliance")
    return _q(
        "select run_id, purged_at, event, records from audit.purges order by purged_at desc nulls last limit 500"
    )


def audience_download(viewer: Viewer, tenant: str, purpose: str | None, channel: str | None) -> bytes:
    """The audience as CSV `subject_key,address` for one tenant the viewer may contact."""
    _require(viewer, "audience_download")
    if viewer.tenants is not None and tenant not in viewer.tenants:
        raise AccessDenied(f"{viewer.username} may not download audiences of tenant {tenant!r}")
    name = mart_name("audience")
    cat = _catalogue()
    if name is None or ("restricted", name) not in cat:
        raise SnapshotMissing("the audience mart is not available yet: run lethe build")
    cols = cat[("restricted", name)]
    conds = ["tenant_id = ?"]
    params: list[object] = [tenant]
    if purpose and "purpose" in cols:
        conds.append("lower(purpose) = lower(?)")
        params.append(purpose)
    if channel and "channel" in cols:
        conds.append("lower(channel) = lower(?)")
        params.append(channel)
    df = _q(
        f"select distinct subject_key, address from restricted.{_ident(name)} where "  # noqa: S608
        + " and ".join(conds)
        + " order by subject_key",
        params,
    )
    buf = io.StringIO()
    df[["subject_key", "address"]].to_csv(buf, index=False)
    return buf.getvalue().encode()


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
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def lookup_subject(viewer: Viewer, tenant: str, term: str, reason: str) -> dict[str, pd.DataFrame]:
    """Everything the snapshot holds on one subject, found by CRM id, email, phone or subject key.

    DPO only; a reason is required and every lookup (found or not) is logged.
    """
    _require(viewer, "subject")
    term = (term or "").strip()
    reason = (reason or "").strip()
    if not reason:
        raise AccessDenied("a reason is required to look up a data subject")
    if not term:
        return {}
    digits = "".join(ch for ch in term if ch.isdigit()).lstrip("0")  # national or international format
    identity = _q(
        "select * from restricted.subjects where tenant_id = ? and ("
        "crm_contact_id = ? or subject_key = ? or lower(email) = lower(?) "
        "or (length(?) >= 7 and (regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g') like '%' || ? "
        "or regexp_replace(coalesce(mobile_phone, ''), '[^0-9]', '', 'g') like '%' || ?))) limit 20",
        [tenant, term, term, term, digits, digits, digits],
    )
    keys = sorted(set(identity.subject_key)) if not identity.empty else []
    _log_access(viewer, tenant, keys, reason, len(identity))
    found: dict[str, pd.DataFrame] = {"identity": identity}
    if not keys:
        return found
    catalogue = _catalogue()
    for (schema, name), cols in sorted(catalogue.items()):
        if schema not in ("marts", "restricted") or "subject_key" not in cols or name == "subjects":
            continue
        if schema == "marts" and ("restricted", name) in catalogue:
            continue  # the restricted copy of the same mart is shown instead
        df = _q(
            f"select * from {schema}.{_ident(name)} where list_contains(?::varchar[], subject_key) limit 500",  # noqa: S608
            [keys],
        )
        if not df.empty:
            found[f"{schema}.{name}"] = df
    return found


def histogram(
    viewer: Viewer,
    capability: str,
    kind: str,
    column: str,
    tenants: Sequence[str] | None = None,
    bins: int = 10,
) -> pd.DataFrame | None:
    """Subjects per bucket of a 0-1 score column of a mart; None when the mart or column is absent."""
    _require(viewer, capability)
    name = mart_name(kind)
    if name is None or column not in _catalogue()[("marts", name)]:
        return None
    where, params = _where(_catalogue()[("marts", name)], viewer, tenants)
    col = _ident(column)
    return _q(
        f"select least(floor({col} * ?), ? - 1) / ? as bucket, count(*) as subjects "  # noqa: S608
        f"from marts.{_ident(name)} where {col} is not null and {where} group by all order by bucket",
        [bins, bins, bins, *params],
    )
