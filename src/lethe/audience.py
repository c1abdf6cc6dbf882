"""`lethe audience`: the consent-eligible audience of one tenant, purpose and channel as CSV (CONTRACT section 4).

Reads `audience_eligible` from the warehouse (read-only) or, while the pipeline holds the warehouse's
write lock, from the published snapshot. Output is exactly `subject_key,address`, ordered by key.
"""

from __future__ import annotations

import csv
import io
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lethe import catalog
from lethe.errors import LetheError, UnknownTenantError, WarehouseBusyError
from lethe.fsutil import check_output_file, write_atomic
from lethe.policy import load_policy
from lethe.settings import Settings
from lethe.status import check_judged_at

log = logging.getLogger(__name__)

CHANNELS = ("email", "sms", "phone")
HEADER = ("subject_key", "address")


@dataclass(frozen=True)
class AudienceSource:
    """Where the audience is read from: the schemas holding the eligible audience and the purposes."""

    path: Path
    eligible: str  # schema-qualified audience_eligible
    purposes: str  # a query of (tenant_id, purpose_name) known to the warehouse


def _open(settings: Settings) -> tuple[duckdb.DuckDBPyConnection, AudienceSource]:
    """A read-only connection to the warehouse, or to the snapshot while the warehouse is being written."""
    from lethe.warehouse import connect

    if settings.warehouse.exists():
        try:
            con = connect(settings, read_only=True)
        except (WarehouseBusyError, duckdb.IOException) as exc:
            if not settings.snapshot.exists():
                raise LetheError(
                    f"{settings.warehouse}: in use by another process and no snapshot published yet ({exc})"
                ) from None
            log.info("warehouse busy, reading the published snapshot %s", settings.snapshot)
        else:
            return con, AudienceSource(
                path=settings.warehouse,
                eligible="marts.audience_eligible",
                purposes="select tenant_id, purpose_name from intermediate.int_consent_purposes",
            )
    if settings.snapshot.exists():
        con = duckdb.connect(str(settings.snapshot), read_only=True)
        return con, AudienceSource(
            path=settings.snapshot,
            eligible="restricted.audience_eligible",
            purposes=(
                "select tenant_id, purpose_name from restricted.audience_eligible "
                "union select tenant_id, purpose_name from marts.audience_exclusions"
            ),
        )
    raise LetheError(f"{settings.warehouse}: no warehouse yet (run 'lethe ingest' and 'lethe build' first)")



def _resolve_purpose(con: duckdb.DuckDBPyConnection, source: AudienceSource, tenant: str, purpose: str) -> str:
    """The DataUsePurpose Name matching `purpose` without regard to case; errors name the known ones."""
    known = con.execute(
        f"select distinct purpose_name from ({source.purposes}) where tenant_id = ? order by 1",  # noqa: S608
        [tenant],
    ).fetchall()
    names = [row[0] for row in known if row[0] is not None]
    if not names:
        raise UnknownTenantError(
            f"unknown tenant {tenant!r}: no data for it in {source.path} (run 'lethe ingest' and 'lethe build')"
        )
    wanted = purpose.strip().casefold()
    for name in names:
        if name.strip().casefold() == wanted:
            return name
    raise LetheError(f"--purpose {purpose!r}: no such purpose for tenant {tenant!r} (known: {', '.join(names)})")


def read_audience(settings: Settings, tenant: str, purpose: str, channel: str) -> list[tuple[str, str]]:
    """The eligible audience as (subject_key, address) rows, one per subject, ordered by key."""
    if channel not in CHANNELS:
        raise LetheError(f"--channel {channel!r}: expected one of {', '.join(CHANNELS)}")
    load_policy(settings.tenants_file).tenant(tenant)  # UnknownTenantError naming the policy file
    con, source = _open(settings)
    try:
        if not catalog.table_exists(con, *source.eligible.split(".", 1)):
            raise LetheError(f"{source.path}: no {source.eligible} yet (run 'lethe build' first)")
        name = _resolve_purpose(con, source, tenant, purpose)
        if settings.as_of_given:
            (judged,) = con.execute(f"select max(as_of)::timestamp from {source.eligible}").fetchone()  # noqa: S608
            check_judged_at(settings, judged, f"{source.path} ({source.eligible})")
        rows = con.execute(
            f"""
            select subject_key, min(address) as address
            from {source.eligible}
            where tenant_id = ? and lower(trim(purpose_name)) = lower(trim(?)) and channel = ?
            group by subject_key
            order by subject_key
            """,  # noqa: S608 - the relation name is ours, every value is bound
            [tenant, name, channel],
        ).fetchall()
    finally:
        con.close()
    return rows


def export_audience(settings: Settings, tenant: str, purpose: str, channel: str, out: Path | None) -> int:
    """Write the audience as CSV `subject_key,address` to `out` (or stdout); return how many subjects."""
    if out is not None:
        check_output_file(out)
    rows = read_audience(settings, tenant, purpose, channel)
    if out is None:
        _write_csv(sys.stdout, rows)
        sys.stdout.flush()
    else:  # addresses are personal data: owner-only, like a DSR export, and atomic
        text = io.StringIO(newline="")
        _write_csv(text, rows)
        write_atomic(out, text.getvalue().encode("utf-8"))
    log.info("audience %s/%s/%s: %d subjects", tenant, purpose, channel, len(rows))
    return len(rows)


def _write_csv(fh, rows: list[tuple[str, str]]) -> None:
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
