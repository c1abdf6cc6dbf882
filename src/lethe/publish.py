"""Publish the read-only serving snapshot: aggregates and minimised detail, swapped in atomically.

The snapshot (`$LETHE_HOME/snapshot/current.duckdb`) is built as a new file next to the old one and
moved into place with `os.replace`, so a reader that has the old file open keeps reading it.

Layout of the snapshot (what `dashboards/data.py` reads):

- `main.snapshot_info(as_of, published_at, marts)`: one row.
- `intake.summary`: per tenant and dataset, files and rows loaded, quarantined, duplicates skipped.
- `intake.manifest`, `intake.quarantine_files`, `intake.quarantine_rows` (without the offending
  record), `intake.quarantine_reasons`, `intake.validation_results` (when the warehouse has it).
- `marts.<name>`: every mart in the warehouse, without personal columns (names, emails, phones).
- `restricted.<name>`: the full copy of a mart that has personal columns (the audience addresses),
  and `restricted.subjects` (identity of each CRM contact): only the DPO and marketing's audience
  download read these, through `dashboards/data.py`.
- `audit.entries`, `audit.purges`: the purge audit log; `pipeline.runs`, `pipeline.failures`.
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


def _jsonl(con: duckdb.DuckDBPyConnection, path: Path, target: str, empty_columns: str) -> None:
    """Copy a JSON-lines log into a snapshot table; an absent or empty log gives an empty table."""
    if path.exists() and path.stat().st_size > 0:
        try:
            con.execute(
                f"create table {target} as select * from read_json_auto(?, format='newline_delimited', "  # noqa: S608 (target is ours)
                "union_by_name=true, ignore_errors=true)",
                [str(path)],
            )
            return
        except duckdb.Error as exc:
            log.warning("could not read %s (%s); publishing it empty", path, exc)
    con.execute(f"create table {target} ({empty_columns})")


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
        personal = [c for c in columns if PERSONAL_COLUMNS.search(c)]
        keep = ", ".join(_ident(c) for c in columns if c not in personal)
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
    """The identity of every CRM contact under its subject key, for the DPO's subject lookup only."""
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
        f"{_ident(c)}::varchar as {'crm_contact_id' if c == 'id' else c}"
        if c in cols
        else f"null::varchar as {c}"
        for c in wanted
    )
    key = sql_keyed_hash("tenant_id", "contact", "id")
    con.execute(
        f"create table snap.restricted.subjects as select tenant_id, {key} as subject_key, {select} "  # noqa: S608
        f"from {wh}.raw.crm_contacts"
    )


def _summarise_audit(con: duckdb.DuckDBPyConnection) -> None:
    """One row per audited purge run: when, how many actions and records (from the hash-chained log)."""
    cols = {r[0] for r in con.execute("select column_name from (describe snap.audit.entries)").fetchall()}
    run = "run_id::varchar" if "run_id" in cols else "null::varchar"
    when = next(
        (c for c in ("finished_at", "ts", "timestamp", "at", "written_at", "started_at") if c in cols), None
    )
    at = f"try_cast({_ident(when)} as timestamptz)" if when else "null::timestamptz"
    event = next((c for c in ("event", "kind", "type", "status") if c in cols), None)
    ev = f"{_ident(event)}::varchar" if event else "'entry'"
    records = "try_cast(records_total as bigint)" if "records_total" in cols else "null::bigint"
    if "counts" in cols:
        counts_sum = "try_cast(list_sum(list_transform(counts::json[], x -> coalesce(x->>'record_count', x->>'count')::bigint)) as bigint)"
        records = f"coalesce({records}, try({counts_sum}))"
    con.execute(
        f"create table snap.audit.purges as select {run} as run_id, {at} as purged_at, {ev} as event, "  # noqa: S608
        f"{records} as records from snap.audit.entries"
    )


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
    try:
        has_wh = settings.warehouse.exists()
        wh_catalog = con.execute("select current_database()").fetchone()[0]  # type: ignore[index]
        wh = _ident(wh_catalog)
        con.execute(f"attach '{_escape(tmp)}' as snap")
        try:
            have = _tables(con, wh_catalog) if has_wh else {}
            for schema in ("intake", "marts", "restricted", "audit", "pipeline"):
                con.execute(f"create schema snap.{schema}")
            _copy_intake(con, have)
            marts = _copy_marts(con, wh, have)
            _copy_subjects(con, wh, have)
            _jsonl(con, settings.audit_log, "snap.audit.entries", "run_id varchar")
            _summarise_audit(con)
            _jsonl(
                con, settings.runs_dir / "runs.jsonl", "snap.pipeline.runs", "dag_id varchar, run_id varchar"
            )
            _jsonl(
                con,
                settings.runs_dir / "failures.jsonl",
                "snap.pipeline.failures",
                "dag_id varchar, task_id varchar, run_id varchar, reason varchar",
            )
            published_at = datetime.now(UTC)
            con.execute(
                "create table snap.main.snapshot_info as select ?::timestamptz as as_of, "
                "?::timestamptz as published_at, ?::varchar[] as marts",
                [settings.as_of, published_at, marts],
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
    _fsync_dir(target.parent)
    log.info("published snapshot %s (%d marts)", target, len(marts))
    return target


def _escape(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def marts_in(path: Path) -> Iterable[str]:
    """The marts a published snapshot carries (for tests and `lethe status`)."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach '{_escape(path)}' as s (read_only)")
        return [r[0] for r in con.execute("select unnest(marts) from s.main.snapshot_info").fetchall()]
    finally:
        con.close()
