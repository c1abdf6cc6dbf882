"""The compliance KPIs (`lethe status`, the dashboard's Overview): one SQL definition over the snapshot.

Each KPI is one query over the published snapshot returning `(tenant_id, num, den)` rows: a count KPI
is `sum(num)` (an int), a percentage is `100 * sum(num) / sum(den)`, per tenant and in total. A KPI whose
tables the snapshot does not carry yet (nothing built) is left out rather than reported as zero.
`dashboards/data.py` runs the same `kpi_sql` through its own connection, so both show the same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from lethe.errors import LetheError
from lethe.policy import RESERVED_TENANTS
from lethe.settings import Settings

log = logging.getLogger(__name__)

# A subject is at high risk when its 30-day withdrawal score is at least this multiple of the base
# rate (the withdrawal rate observed in the model's test period; the mean score when not evaluated).
HIGH_RISK_MULTIPLE = 3.0
# Agents count as "without valid training" when they handled a contact this recently without it.
AGENT_WINDOW_DAYS = 30

# The snapshot's as-of as a timestamp comparable with the marts' (UTC) ones: read on a UTC session (use_utc).
AS_OF_SQL = "(select as_of::timestamp from main.snapshot_info)"
BASE_RATE_SQL = (
    "coalesce((select max(value) from marts.withdrawal_risk_evaluation where metric = 'withdrawal_rate_test' "
    "and isfinite(value) and value > 0), (select avg(score) from marts.withdrawal_risk_scores))"
)
HIGH_RISK_SQL = f"score >= {HIGH_RISK_MULTIPLE} * {BASE_RATE_SQL}"


@dataclass(frozen=True)
class Kpi:
    """One named KPI: its label on the dashboard, its definition, the SQL and the tables it reads."""

    name: str
    label: str
    definition: str
    sql: str
    tables: tuple[str, ...]
    percent: bool = False


KPIS: tuple[Kpi, ...] = (
    Kpi(
        "records_past_due",
        "Records past due",
        "records whose retention or erasure due date passed at least one day before as-of and that are "
        "not erased yet (marts.retention_due, days_past_due > 0; legal holds excluded)",
        "select tenant_id, count(*) filter (where days_past_due > 0), null from marts.retention_due group by 1",
        ("marts.retention_due",),
    ),
    Kpi(
        "records_due",
        "Records due",
        "every record due for erasure at as-of, including those due today (marts.retention_due)",
        "select tenant_id, count(*), null from marts.retention_due group by 1",
        ("marts.retention_due",),
    ),
    Kpi(
        "purged_last_run",
        "Purged in the last run",
        "records the last completed retention purge erased (its audited plan: records, not files or "
        "derived rows; 0 before the first purge)",
        "select tenant_id, sum(record_count), null from audit.purge_counts where run_id = ("
        "select run_id from audit.purges where kind = 'retention' and status = 'completed' "
        "order by finished_at desc nulls last, run_id desc limit 1) group by 1",
        ("audit.purge_counts", "audit.purges"),
    ),
    Kpi(
        "consent_coverage_pct",
        "Consent coverage",
        "share (%) of marketing consents on record (one per subject, purpose and channel) that are "
        "valid at as-of: granted, explicit, with evidence and not due for renewal (marts.fct_consent_status)",
        "select tenant_id, count(*) filter (where is_valid), count(*) from marts.fct_consent_status "
        "where is_marketing group by 1",
        ("marts.fct_consent_status",),
        percent=True,
    ),
    Kpi(
        "open_violations",
        "Open violations",
        "consent, restriction and objection violations on record up to as-of (marts.fct_violations); "
        "a violation stays open until its evidence is purged",
        "select tenant_id, count(*), null from marts.fct_violations group by 1",
        ("marts.fct_violations",),
    ),
    Kpi(
        "dsr_open",
        "DSRs open",
        "data-subject requests received and not fulfilled at as-of, overdue ones included",
        "select tenant_id, count(*) filter (where status <> 'done'), null from marts.fct_dsr_requests group by 1",
        ("marts.fct_dsr_requests",),
    ),
    Kpi(
        "dsr_overdue",
        "DSRs overdue",
        "open data-subject requests past their due date (received + the tenant's dsr_sla_days)",
        "select tenant_id, count(*) filter (where status = 'overdue'), null from marts.fct_dsr_requests group by 1",
        ("marts.fct_dsr_requests",),
    ),
    Kpi(
        "breaches_open_past_72h",
        "Breaches unnotified after 72 h",
        "breaches detected more than 72 hours before as-of whose authority notification is still missing",
        "select tenant_id, count(*) filter (where is_open and is_past_clock), null from marts.fct_breaches group by 1",
        ("marts.fct_breaches",),
    ),
    Kpi(
        "breaches_notified_late",
        "Breaches notified late",
        "breaches whose authority was notified, but more than 72 hours after detection",
        "select tenant_id, count(*) filter (where not is_open and not notified_within_72h), null "
        "from marts.fct_breaches group by 1",
        ("marts.fct_breaches",),
    ),
    Kpi(
        "agents_without_valid_training",
        "Agents without valid training",
        f"agents who handled a contact in the {AGENT_WINDOW_DAYS} days up to as-of without valid GDPR "
        "training at that moment (no training, score under 90, expired, or trained only afterwards)",
        f"select tenant_id, count(distinct agent_key) filter (where contacted_at > {AS_OF_SQL} - "  # noqa: S608
        f"interval {AGENT_WINDOW_DAYS} day), null from marts.fct_agent_training_gaps group by 1",
        ("marts.fct_agent_training_gaps",),
    ),
    Kpi(
        "subjects_at_high_risk",
        "Subjects at high risk",
        f"scored subjects whose 30-day withdrawal score is at least {HIGH_RISK_MULTIPLE:g} times the base "
        "rate (the withdrawal rate of the model's test period) (marts.withdrawal_risk_scores)",
        f"select tenant_id, count(*) filter (where {HIGH_RISK_SQL}), null "  # noqa: S608
        "from marts.withdrawal_risk_scores group by 1",
        ("marts.withdrawal_risk_scores",),
    ),
    Kpi(
        "quarantined_rows",
        "Rows quarantined",
        "source rows refused by their data contract and held in quarantine (intake.summary)",
        "select tenant_id, sum(rows_quarantined), null from intake.summary group by 1",
        ("intake.summary",),
    ),
)
BY_NAME = {k.name: k for k in KPIS}


def kpi_sql(available: Collection[str]) -> str:
    """One statement: `(kpi, tenant_id, num, den)` for every KPI whose tables are available.

    Takes one parameter, `$1`: the tenants to keep (a VARCHAR[]), or NULL for every tenant.
    """
    parts = [
        f"select '{k.name}' as kpi, tenant_id::varchar as tenant_id, num::double as num, den::double as den "  # noqa: S608 (our SQL)
        f"from ({k.sql}) t(tenant_id, num, den)"
        for k in KPIS
        if all(t in available for t in k.tables)
    ]
    if not parts:
        return "select null::varchar as kpi, null::varchar as tenant_id, null::double as num, null::double as den where false"
    union = "\nunion all\n".join(parts)
    return (
        f"select * from ({union}) where tenant_id is not null "  # noqa: S608
        "and ($1::varchar[] is null or list_contains($1::varchar[], tenant_id))"
    )


def present(available: Collection[str]) -> tuple[Kpi, ...]:
    """The KPIs the snapshot can answer (their tables are published)."""
    return tuple(k for k in KPIS if all(t in available for t in k.tables))


def _value(kpi: Kpi, num: float, den: float) -> int | float:
    """A percentage (float, one decimal) or a count (a whole number, so JSON prints 11, not 11.0)."""
    if kpi.percent:
        return round(100.0 * num / den, 1) if den else 0.0
    return round(num)


def summarise(
    rows: Sequence[tuple[str, str, float | None, float | None]], available: Collection[str]
) -> tuple[dict[str, int | float], dict[str, dict[str, int | float]]]:
    """Totals and per-tenant values from `kpi_sql` rows; every present KPI has a total (0 when no rows)."""
    sums: dict[str, list[float]] = {k.name: [0.0, 0.0] for k in present(available)}
    tenant_sums: dict[str, dict[str, list[float]]] = {}
    for kpi, tenant, num, den in rows:
        s = sums[kpi]
        s[0] += num or 0.0
        s[1] += den or 0.0
        t = tenant_sums.setdefault(tenant, {}).setdefault(kpi, [0.0, 0.0])
        t[0] += num or 0.0
        t[1] += den or 0.0
    totals = {name: _value(BY_NAME[name], n, d) for name, (n, d) in sums.items()}
    per_tenant = {
        tenant: {name: _value(BY_NAME[name], *vals[name]) if name in vals else _value(BY_NAME[name], 0, 0)
                 for name in sums}
        for tenant, vals in sorted(tenant_sums.items())
    }
    return totals, per_tenant


def available_tables(query: Callable[[str], Sequence[tuple]]) -> set[str]:
    """`schema.table` names of the snapshot (through any query function over it)."""
    rows = query(
        "select table_schema || '.' || table_name from information_schema.tables where table_catalog = 'snap'"
    )
    return {r[0] for r in rows}


def use_utc(con: duckdb.DuckDBPyConnection) -> None:
    """Judge in UTC on a connection that reads the snapshot: `snapshot_info.as_of` is a TIMESTAMPTZ, and casting
    it to the marts' (UTC) timestamps happens in the session's time zone, which is otherwise the server's."""
    con.execute("set TimeZone = 'UTC'")


def check_judged_at(settings: Settings, judged: datetime | None, where: str) -> None:
    """Refuse figures judged at another instant than the --as-of (or LETHE_AS_OF) the user named: a read-only
    command reports what the last build judged and cannot judge again; silently answering for another instant
    would mislead. Nothing to check when no instant was named or the figures carry none."""
    if not settings.as_of_given or judged is None:
        return
    at = judged.astimezone(UTC) if judged.tzinfo else judged.replace(tzinfo=UTC)
    if at != settings.as_of:
        named = settings.as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
        raise LetheError(
            f"{where}: judged at {at.strftime('%Y-%m-%dT%H:%M:%SZ')}, not at the as-of asked for ({named}); "
            f"run `lethe run --as-of {named}` (or build and publish at it) first, or leave --as-of and LETHE_AS_OF out"
        )


def compute_status(settings: Settings, tenants: Sequence[str] | None = None) -> dict[str, int | float]:
    """The KPIs of the published snapshot: totals (`<kpi>`), then per tenant (`<kpi>.<tenant>`; for the centre's
    own folder, `_centre`, only the KPIs that count something of it)."""
    path = settings.snapshot
    if not path.exists():
        raise LetheError("no snapshot published yet: run lethe run or lethe publish")
    con = duckdb.connect(":memory:")
    try:
        use_utc(con)
        con.execute(f"attach '{str(path).replace(chr(39), chr(39) * 2)}' as snap (read_only)")
        con.execute("use snap")
        available = available_tables(lambda sql: con.execute(sql).fetchall())
        if settings.as_of_given and "main.snapshot_info" in available:
            (judged,) = con.execute("select as_of from main.snapshot_info").fetchone()
            check_judged_at(settings, judged, str(path))
        rows = con.execute(kpi_sql(available), [list(tenants) if tenants else None]).fetchall()
    except duckdb.Error as exc:
        raise LetheError(f"{path}: cannot read the snapshot ({exc}): republish it with lethe publish") from None
    finally:
        con.close()
    totals, per_tenant = summarise(rows, available)
    counted = {(kpi, tenant) for kpi, tenant, *_ in rows}
    out = dict(totals)
    for tenant, values in per_tenant.items():
        # the centre's own files (its agents, the breach register) are no client's: of its KPIs only those it
        # has anything counted for, not a twelve-line block of zeros for retention, consent and requests
        out.update({
            f"{name}.{tenant}": value for name, value in values.items()
            if tenant not in RESERVED_TENANTS or (name, tenant) in counted
        })
    return out
