"""Publish the read-only serving snapshot: aggregates and minimised detail, swapped in atomically.

The snapshot (`$LETHE_HOME/snapshot/current.duckdb`) is built as a new file next to the old one and
moved into place with `os.replace`, so a reader that has the old file open keeps reading it.

Layout of the snapshot (what `dashboards/data.py` reads):

- `main.snapshot_info(as_of, published_at, marts)`: one row.
- `main.tenant_regions(tenant_id, region, region_order)`: the regions each tenant's national phone numbers
  are read in (lethe.ingest.normalise.tenant_regions), for the DPO's lookup by phone.
- `intake.summary`: per tenant and dataset, files and rows loaded, quarantined, duplicates skipped.
- `intake.manifest`, `intake.quarantine_files`, `intake.quarantine_rows` (without the offending
  record), `intake.quarantine_reasons`, `intake.validation_results` (when the warehouse has it).
- `marts.<name>`: every mart in the warehouse, without personal columns (names, emails, phones).
- `restricted.<name>`: the full copy of a mart that has personal columns (the audience addresses,
  agent usernames), and `restricted.subjects` (identity of each CRM contact): only the DPO and
  marketing's audience download read these, through `dashboards/data.py`; a subject's key is the one
  identity resolution gives the contact (int_subject_identities_resolved), so duplicates share it. In `marts.<name>` an agent
  username is replaced by `agent_key`, a keyed hash, so aggregates can still count agents.
- `audit.entries` (the purge audit log without the erased subjects' keys), `audit.purges` (one row
  per purge run: kind, as-of, status, records planned, rows touched), `audit.purge_counts` (records
  per run, tenant, category, reason and action, from the audited plan).
- `pipeline.runs`, `pipeline.failures`: the Airflow callbacks' logs (src/lethe/orchestration/callbacks.py).

`snapshot_info.as_of` is the instant the marts were judged at (their `as_of` column), falling back to
the publishing process's as-of when no mart carries one.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from lethe.catalog import PREVIOUS_ADDRESSES
from lethe.fsutil import fsync_path, sql_path
from lethe.keys import sql_keyed_hash
from lethe.settings import Settings

log = logging.getLogger(__name__)

# Column names that hold personal data; a mart column matching one of these stays in `restricted`.
PERSONAL_COLUMNS = re.compile(
    r"^(email|phone|mobile_phone|first_name|last_name|full_name|subject_name|address|"
    r"mailing_(street|city|postal_code|country)|birthdate|customer_address|content|transcript_text)$"
    r"|(_email|_phone|_address|_name_pii)$",
    re.IGNORECASE,
)
# Identifier columns replaced by a keyed hash `<prefix>_key` in `marts.*` (the original stays in `restricted`).
PSEUDONYMISED = {"agent_username": "agent"}
# Masks addresses and long digit runs in free-text quarantine reasons (they may quote the bad value).
_MASK_MACRO = (
    "create or replace temp macro lethe_mask(r) as regexp_replace(regexp_replace(r, "
    "'[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+', '<email>', 'g'), '[+]?[0-9][0-9 ()./-]{6,}[0-9]', '<number>', 'g')"
)


def _ident(name: str) -> str:
    """A quoted SQL identifier (names come from the warehouse catalogue, never from users)."""
    return '"' + name.replace('"', '""') + '"'


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[tuple[str, str], list[str]]:
    """(schema, table) -> column names for every table and view of one attached database."""
    rows = con.execute(
        "select table_schema, table_name, list(column_name order by ordinal_position) "
        "from information_schema.columns where table_catalog = ? group by all",
        [catalog],
    ).fetchall()
    return {(schema, table): list(cols) for schema, table, cols in rows}


RUNS_COLUMNS = {
    "dag_id": "VARCHAR", "run_id": "VARCHAR", "state": "VARCHAR", "run_type": "VARCHAR",
    "data_interval_end": "TIMESTAMPTZ", "start_date": "TIMESTAMPTZ", "end_date": "TIMESTAMPTZ", "reason": "VARCHAR",
}
FAILURES_COLUMNS = {
    "dag_id": "VARCHAR", "task_id": "VARCHAR", "map_index": "BIGINT", "run_id": "VARCHAR",
    "try_number": "BIGINT", "reason": "VARCHAR", "at": "TIMESTAMPTZ",
}


def jsonl_select(path: Path, columns: dict[str, str]) -> str:
    """SELECT of a JSON-lines log's known columns (bad lines skipped): the snapshot's copy, and the dashboard's
    read of the live log."""
    spec = "{" + ", ".join(f"{_ident(k)}: '{v}'" for k, v in columns.items()) + "}"
    return (f"select * from read_json('{sql_path(path)}', format='newline_delimited', "  # noqa: S608 (ours)
            f"ignore_errors=true, columns={spec})")


def _jsonl(con: duckdb.DuckDBPyConnection, path: Path, target: str, columns: dict[str, str]) -> None:
    """Copy a JSON-lines log (known columns) into a snapshot table; an absent or bad log gives an empty one."""
    if path.exists() and path.stat().st_size > 0:
        try:
            con.execute(f"create table {target} as {jsonl_select(path, columns)}")  # noqa: S608 (ours)
            return
        except duckdb.Error as exc:
            log.warning("could not read %s (%s); publishing it empty", path, exc)
    con.execute(f"create table {target} ({', '.join(f'{_ident(k)} {v}' for k, v in columns.items())})")


def _copy_intake(con: duckdb.DuckDBPyConnection, have: dict[tuple[str, str], list[str]]) -> None:
    """Intake statistics: manifest, quarantined files and rows (reasons masked, records dropped)."""
    con.execute(_MASK_MACRO)
    if ("lethe_meta", "manifest") in have:
        con.execute("create table snap.intake.manifest as select * from lethe_meta.manifest")
    else:
        con.execute(
            "create table snap.intake.manifest (path varchar, tenant_id varchar, dataset varchar, "
            "size_bytes bigint, sha256 varchar, batch_id varchar, loaded_at timestamp, status varchar, "
            "rows_loaded bigint, rows_quarantined bigint, duplicates_skipped bigint)"
        )
    if ("quarantine", "files") in have:
        con.execute(
            "create table snap.intake.quarantine_files as select tenant_id, dataset, source_file, "
            "lethe_mask(reason) as reason, batch_id, quarantined_at from quarantine.files"
        )
    else:
        con.execute(
            "create table snap.intake.quarantine_files (tenant_id varchar, dataset varchar, "
            "source_file varchar, reason varchar, batch_id varchar, quarantined_at timestamp)"
        )
    if ("quarantine", "rows") in have:
        con.execute(
            "create table snap.intake.quarantine_rows as select tenant_id, dataset, source_file, source_row, "
            "rule, lethe_mask(reason) as reason, batch_id, quarantined_at from quarantine.rows"
        )
    else:
        con.execute(
            "create table snap.intake.quarantine_rows (tenant_id varchar, dataset varchar, "
            "source_file varchar, source_row bigint, rule varchar, reason varchar, batch_id varchar, "
            "quarantined_at timestamp)"
        )
    if ("lethe_meta", "validation_results") in have:
        con.execute(
            "create table snap.intake.validation_results as select * from lethe_meta.validation_results"
        )
    con.execute(
        """
        create table snap.intake.summary as
        with files as (
            select tenant_id, dataset,
                count(*) as files,
                coalesce(sum(rows_loaded), 0) as rows_loaded,
                coalesce(sum(rows_quarantined), 0) as rows_quarantined,
                coalesce(sum(duplicates_skipped), 0) as duplicates_skipped,
                max(loaded_at) as last_loaded_at
            from snap.intake.manifest group by all
        ),
        whole as (
            select tenant_id, dataset, count(distinct source_file) as files_quarantined
            from snap.intake.quarantine_files group by all
        ),
        quarantined_rows as (
            select tenant_id, dataset, count(*) as rows_in_quarantine
            from snap.intake.quarantine_rows group by all
        )
        select
            coalesce(f.tenant_id, w.tenant_id, q.tenant_id) as tenant_id,
            coalesce(f.dataset, w.dataset, q.dataset) as dataset,
            coalesce(f.files, 0)::bigint as files,
            coalesce(w.files_quarantined, 0)::bigint as files_quarantined,
            coalesce(f.rows_loaded, 0)::bigint as rows_loaded,
            greatest(coalesce(f.rows_quarantined, 0), coalesce(q.rows_in_quarantine, 0))::bigint
                as rows_quarantined,
            coalesce(f.duplicates_skipped, 0)::bigint as duplicates_skipped,
            f.last_loaded_at
        from files f
        full join whole w using (tenant_id, dataset)
        full join quarantined_rows q using (tenant_id, dataset)
        order by 1, 2
        """
    )
    con.execute(
        """
        create table snap.intake.quarantine_reasons as
        select tenant_id, dataset, 'row' as scope, rule, reason, count(*)::bigint as count
        from snap.intake.quarantine_rows group by all
        union all
        select tenant_id, dataset, 'file' as scope, 'unparseable_file' as rule, reason, count(*)::bigint
        from snap.intake.quarantine_files group by all
        order by count desc
        """
    )


def _copy_marts(con: duckdb.DuckDBPyConnection, wh: str, have: dict[tuple[str, str], list[str]]) -> list[str]:
    """Every mart, minus personal columns; marts with personal columns also go to `restricted`."""
    published = []
    for (schema, table), columns in sorted(have.items()):
        if schema != "marts":
            continue
        personal = [c for c in columns if PERSONAL_COLUMNS.search(c) or c in PSEUDONYMISED]
        keep = ", ".join(
            f"substr(sha256(getvariable('lethe_key') || ':{PSEUDONYMISED[c]}:' || {_ident(c)}), 1, 16) "
            f"as {PSEUDONYMISED[c]}_key"
            if c in PSEUDONYMISED
            else _ident(c)
            for c in columns
            if c not in personal or c in PSEUDONYMISED
        )
        source = f"{wh}.marts.{_ident(table)}"
        try:
            if keep:
                con.execute(f"create table snap.marts.{_ident(table)} as select {keep} from {source}")  # noqa: S608
            if personal:
                con.execute(f"create table snap.restricted.{_ident(table)} as select * from {source}")  # noqa: S608
        except duckdb.Error as exc:  # a mart view whose inputs are not built yet
            log.warning("mart %s not published: %s", table, exc)
            continue
        published.append(table)
    return published


def _copy_subjects(con: duckdb.DuckDBPyConnection, wh: str, have: dict[tuple[str, str], list[str]]) -> None:
    """The identity of every CRM contact under the key of the subject it resolves to (an old duplicate contact
    under its person's key, as every mart has it), for the DPO's subject lookup only."""
    cols = set(have.get(("raw", "crm_contacts"), []))
    wanted = ["id", "first_name", "last_name", "email", "phone", "mobile_phone"]
    if not {"tenant_id", "id"} <= cols:
        con.execute(
            "create table snap.restricted.subjects (tenant_id varchar, subject_key varchar, "
            "crm_contact_id varchar, first_name varchar, last_name varchar, email varchar, phone varchar, "
            "mobile_phone varchar)"
        )
        return
    select = ", ".join(
        f"c.{_ident(c)}::varchar as {'crm_contact_id' if c == 'id' else c}"
        if c in cols
        else f"null::varchar as {c}"
        for c in wanted
    )
    key = sql_keyed_hash("c.tenant_id", "contact", "c.id")  # a contact identity resolution has not seen yet
    resolved = ("intermediate", "int_subject_identities_resolved")
    join = ""
    if {"tenant_id", "identity_kind", "identity_value", "subject_key"} <= set(have.get(resolved, [])):
        key = f"coalesce(r.subject_key, {key})"
        join = (
            f"left join {wh}.intermediate.int_subject_identities_resolved r on r.tenant_id = c.tenant_id "
            "and r.identity_kind = 'contact' and r.identity_value = c.id"
        )
    con.execute(
        f"create table snap.restricted.subjects as select c.tenant_id, {key} as subject_key, "  # noqa: S608
        f"{select} from {wh}.raw.crm_contacts c {join}"
    )
    _copy_previous_addresses(con, have)


def _copy_previous_addresses(con: duckdb.DuckDBPyConnection, have: dict[tuple[str, str], list[str]]) -> None:
    """The addresses CRM contacts held before and no contact holds now (`restricted.subject_previous_addresses`),
    so the DPO's lookup finds a person by an old email or phone as `lethe dsar` does. An erasure deletes them
    with the contact, and the purge re-publishes."""
    from lethe.dsr.identity import unheld_previous_addresses_sql

    con.execute("create table snap.restricted.subject_previous_addresses "
                "(tenant_id varchar, crm_contact_id varchar, address varchar)")
    if ("raw", "crm_contacts") in have and tuple(PREVIOUS_ADDRESSES.split(".")) in have:
        unheld = unheld_previous_addresses_sql()
        con.execute(f"insert into snap.restricted.subject_previous_addresses select distinct tenant_id, contact_id, "  # noqa: S608
                    f"address from {unheld}")


def _copy_tenant_regions(con: duckdb.DuckDBPyConnection, have: dict[tuple[str, str], list[str]]) -> None:
    """The regions a tenant's phones in national format were read in at ingest (`tenant_regions`, the most common
    first), so the DPO's lookup reads a phone as `lethe dsar` does; empty when no contact carries a country."""
    from lethe.ingest.normalise import tenant_regions

    con.execute("create table snap.main.tenant_regions (tenant_id varchar, region varchar, region_order integer)")
    if not {"tenant_id", "mailing_country"} <= set(have.get(("raw", "crm_contacts"), [])):
        return
    tenants = [t for (t,) in con.execute("select distinct tenant_id from raw.crm_contacts order by 1").fetchall()]
    rows = [(t, region, i) for t in tenants for i, region in enumerate(tenant_regions(con, t))]
    if rows:
        con.executemany("insert into snap.main.tenant_regions values (?, ?, ?)", rows)


_AUDIT_COLUMNS = (
    "{seq: 'BIGINT', \"at\": 'TIMESTAMPTZ', event: 'VARCHAR', run_id: 'VARCHAR', kind: 'VARCHAR', "
    "as_of: 'TIMESTAMPTZ', records_total: 'BIGINT', derived_tables: 'VARCHAR', reason: 'VARCHAR', "
    "policy_sha256: 'VARCHAR', hash: 'VARCHAR', counts: 'JSON', subject_keys: 'JSON'}"
)
_PLANNED_COUNT = '[{"tenant": "VARCHAR", "data_category": "VARCHAR", "reason": "VARCHAR", "action": "VARCHAR", "record_count": "BIGINT"}]'


def _copy_audit(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """The purge audit log (src/lethe/audit.py) without subject keys, one row per run, counts per plan."""
    cols = (
        "seq, \"at\", event, run_id, kind, as_of, records_total, derived_tables, reason, policy_sha256, hash, "
        "counts, json_array_length(subject_keys) as subjects_erased"
    )
    empty = (
        "select null::bigint as seq, null::timestamptz as at, null::varchar as event, null::varchar as run_id, "
        "null::varchar as kind, null::timestamptz as as_of, null::bigint as records_total, "
        "null::varchar as derived_tables, null::varchar as reason, null::varchar as policy_sha256, "
        "null::varchar as hash, null::json as counts, null::bigint as subjects_erased where false"
    )
    select = empty
    if path.exists() and path.stat().st_size > 0:
        source = (
            f"read_json('{sql_path(path)}', format='newline_delimited', ignore_errors=true, "
            f"columns={_AUDIT_COLUMNS})"
        )
        select = f"select {cols} from {source}"  # noqa: S608 (our SQL)
    try:
        con.execute(f"create table snap.audit.entries as {select}")
    except duckdb.Error as exc:
        log.warning("could not read %s (%s); publishing it empty", path, exc)
        con.execute(f"create table snap.audit.entries as {empty}")
    con.execute(
        """
        create table snap.audit.purges as
        select
            run_id,
            any_value(kind) filter (where event = 'purge.planned') as kind,
            any_value(as_of) filter (where event = 'purge.planned') as as_of,
            min("at") filter (where event = 'purge.planned') as planned_at,
            -- when it ended, however it ended (a refused run has its refusal's time, not none)
            max("at") filter (
                where event in ('purge.completed', 'purge.refused', 'purge.verify_failed', 'purge.abandoned')
            ) as finished_at,
            case
                when bool_or(event = 'purge.completed') then 'completed'
                when bool_or(event = 'purge.verify_failed') then 'verify_failed'
                when bool_or(event = 'purge.refused') then 'refused'
                when bool_or(event = 'purge.abandoned') then 'abandoned'
                else 'planned'
            end as status,
            max(records_total) filter (where event = 'purge.planned') as records,
            max(records_total) filter (where event = 'purge.completed') as rows_touched,
            max(subjects_erased) filter (where event = 'purge.planned') as subjects_erased,
            max(reason) as reason
        from snap.audit.entries
        where run_id is not null and event like 'purge.%'
        group by run_id
        order by planned_at
        """
    )
    con.execute(
        f"""
        create table snap.audit.purge_counts as
        select e.run_id, p.kind, p.as_of, p.status, c.tenant as tenant_id, c.data_category, c.reason,
            c.action, c.record_count
        from snap.audit.entries e
        join snap.audit.purges p using (run_id),
            unnest(from_json(e.counts, '{_PLANNED_COUNT}')) u(c)
        where e.event = 'purge.planned'
        """  # noqa: S608 (our SQL)
    )


def _snapshot_as_of(con: duckdb.DuckDBPyConnection, wh: str, have: dict[tuple[str, str], list[str]]) -> datetime | None:
    """The instant the marts were judged at: the latest `as_of` any mart carries."""
    marts = [t for (s, t), cols in have.items() if s == "marts" and "as_of" in cols]
    for table in sorted(marts):
        try:
            row = con.execute(f"select max(as_of)::timestamp from {wh}.marts.{_ident(table)}").fetchone()  # noqa: S608
        except duckdb.Error:
            continue
        if row and row[0] is not None:
            return row[0].replace(tzinfo=UTC)
    return None


def publish(settings: Settings, con: duckdb.DuckDBPyConnection | None = None) -> Path:
    """Build a fresh snapshot from the warehouse and swap it into place atomically; return its path."""
    target = settings.snapshot
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}-{uuid.uuid4().hex}.building.duckdb")
    own = con is None
    if own:
        if settings.warehouse.exists():
            from lethe.warehouse import connect

            con = connect(settings)
        else:
            con = duckdb.connect(":memory:")
            con.execute("set variable lethe_key = ?", [settings.secret_key.decode()])
    assert con is not None
    # a publish killed before its swap left its half-built copy (personal data, which no erasure reaches):
    # remove any, now that this process holds the warehouse (publishes never run side by side)
    for stale in target.parent.glob(f".{target.stem}-*.building.duckdb*"):
        stale.unlink(missing_ok=True)
    try:
        has_wh = settings.warehouse.exists()
        wh_catalog = con.execute("select current_database()").fetchone()[0]  # type: ignore[index]
        wh = _ident(wh_catalog)
        con.execute(f"attach '{sql_path(tmp)}' as snap")
        try:
            have = _tables(con, wh_catalog) if has_wh else {}
            for schema in ("intake", "marts", "restricted", "audit", "pipeline"):
                con.execute(f"create schema snap.{schema}")
            _copy_intake(con, have)
            marts = _copy_marts(con, wh, have)
            _copy_subjects(con, wh, have)
            _copy_tenant_regions(con, have)
            _copy_audit(con, settings.audit_log)
            _jsonl(con, settings.runs_dir / "runs.jsonl", "snap.pipeline.runs", RUNS_COLUMNS)
            _jsonl(con, settings.runs_dir / "failures.jsonl", "snap.pipeline.failures", FAILURES_COLUMNS)
            published_at = datetime.now(UTC)
            as_of = (_snapshot_as_of(con, wh, have) if has_wh else None) or settings.as_of
            con.execute(
                "create table snap.main.snapshot_info as select ?::timestamptz as as_of, "
                "?::timestamptz as published_at, ?::varchar[] as marts",
                [as_of, published_at, marts],
            )
        finally:
            con.execute("use " + wh)
            con.execute("detach snap")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if own:
            con.close()
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)
    fsync_path(target.parent)
    log.info("published snapshot %s (%d marts)", target, len(marts))
    return target


def marts_in(path: Path) -> Iterable[str]:
    """The marts a published snapshot carries (for tests and `lethe status`)."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach '{sql_path(path)}' as s (read_only)")
        return [r[0] for r in con.execute("select unnest(marts) from s.main.snapshot_info").fetchall()]
    finally:
        con.close()
