"""Files on disk: landing files rewritten without purged records, recordings and transcripts deleted, old exports removed."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from lethe import catalog
from lethe.csvtext import csv_field, csv_fields, csv_records
from lethe.fsutil import fsync_path, has_extension, is_gzip
from lethe.ingest.files import hash_file
from lethe.policy import Policy

log = logging.getLogger(__name__)

BOM = b"\xef\xbb\xbf"
CHUNK_BYTES = 256 * 1024 * 1024
FSYNC_THREADS = 32


@dataclass(frozen=True)
class LandingSource:
    """Where a dataset lands, how it is framed, its id field, and how an anonymised record is patched."""

    folder: str
    suffix: str
    fmt: str  # jsonl | json_array | csv
    key: str
    patch: str | tuple[str, ...] = ()  # JSON merge patch (json) or columns to blank (csv)


LANDING: dict[str, LandingSource] = {
    "contact_records": LandingSource("contact_records", ".jsonl", "jsonl", "ContactId"),
    "email_events": LandingSource("email_events", ".json", "json_array", "sg_event_id", '{"email":null}'),
    "crm_contacts": LandingSource("crm/contacts", ".csv", "csv", "Id"),
    "crm_individuals": LandingSource("crm/individuals", ".csv", "csv", "Id"),
    "crm_consents": LandingSource("crm/consents", ".csv", "csv", "Id"),
    "dsr_requests": LandingSource(
        "crm/dsr_requests", ".csv", "csv", "request_id", ("subject_email", "subject_phone", "details")
    ),
    "legal_holds": LandingSource("crm/legal_holds", ".csv", "csv", "hold_id", ("subject_email",)),
}
_RECORDING_PATCH = '{"Recording":null}'
_ADDRESS_PATCH = '{"CustomerEndpoint":{"Address":null}}'


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if is_gzip(path) else data


# The text of each file of a batch: those DuckDB reads itself ($direct), the others read in Python (_landing_read),
# without a leading BOM (as Python's utf-8-sig decodes)
_TEXTS = ("select file, text from _landing_read union all select filename as file, case when starts_with(content, "
          "chr(65279)) then content[2:] else content end as text from read_text($direct::varchar[])")


def _readable_by_duckdb(path: Path) -> bool:
    """True when DuckDB's read_text can read the file as it is: not gzipped, and no character in its path that
    read_text would take for a glob pattern."""
    return not is_gzip(path) and not any(c in str(path) for c in "*?[]{}\\")


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.purge-tmp")


def encode(path: Path, data: bytes) -> bytes:
    """The bytes a file holding `data` has on disk: gzip (deterministic, no timestamp) for .gz, else as is."""
    return gzip.compress(data, mtime=0) if is_gzip(path) else data


def write_many(contents: dict[Path, bytes]) -> None:
    """Replace files' contents (bytes as they go on disk, see encode) atomically: every temp file (in the file's
    own folder) written, then all fsynced at once (fsync waits on the disk, not the CPU, so the waits overlap in
    threads), then each renamed over its file. A run killed part-way leaves each file either old or new, and the
    purge's next run rewrites whatever is still old."""
    for path, data in contents.items():
        _tmp(path).write_bytes(data)
    with ThreadPoolExecutor(max_workers=FSYNC_THREADS) as pool:
        list(pool.map(fsync_path, [_tmp(p) for p in contents]))
    for path in contents:
        os.replace(_tmp(path), path)


def _files(root: Path, source: LandingSource) -> list[Path]:
    base = root / source.folder
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*") if p.is_file() and has_extension(p.name, source.suffix.lstrip(".")))


def _ops(con: duckdb.DuckDBPyConnection, run_id: str, tenant: str, dataset: str) -> None:
    """Temp table _ops(key, drop, patches) for one tenant and dataset of the run."""
    con.execute(
        f"""
        create or replace temp table _ops as
        select record_id as key,
               bool_or(action = 'delete' and data_category <> 'interaction.recording') as drop,
               list_distinct(list(case
                   when data_category = 'interaction.recording' then '{_RECORDING_PATCH}'
                   when source_table = 'contact_records' and action = 'anonymise' then '{_ADDRESS_PATCH}'
                   when action = 'anonymise' then 'patch' end)) as patches
        from lethe_meta.purge_plans
        where run_id = $run and tenant_id = $tenant and source_table = $dataset
        group by record_id
        """,  # noqa: S608
        {"run": run_id, "tenant": tenant, "dataset": dataset},
    )


def _quarantined(con: duckdb.DuckDBPyConnection, run_id: str, tenant: str, landing: Path) -> None:
    """Temp table _qpos(file, pos): landing records (1-based position) whose quarantined copy the plan erases."""
    con.execute(
        """
        create or replace temp table _qpos as
        select $root || '/' || regexp_replace(record_id, '#[0-9]+$', '') as file,
               regexp_extract(record_id, '#([0-9]+)$', 1)::bigint as pos
        from lethe_meta.purge_plans
        where run_id = $run and tenant_id = $tenant and source_table = 'quarantine.rows'
        """,
        {"run": run_id, "tenant": tenant, "root": str(landing)},
    )


def _rewrite_batch(con: duckdb.DuckDBPyConnection, source: LandingSource, direct: list[str], read_here: list[Path],
                   want: list[str], *, lenient: bool = False) -> list[tuple]:
    """_rewrite_json's query over one batch: (file, new text, records touched, positions gone) of each file with a
    planned record. `direct` files DuckDB reads itself, `read_here` files are read in Python; `lenient` decodes
    bytes that are no UTF-8 as U+FFFD (a JSON Lines file ingest loaded all but such a line of)."""
    errors = "replace" if lenient else "strict"
    frame = pl.DataFrame({"file": [str(p) for p in read_here],
                          "text": [_read(p).decode("utf-8-sig", errors=errors) for p in read_here]},
                         schema={"file": pl.String, "text": pl.String})
    con.register("_landing_read", frame)
    try:
        if source.fmt == "jsonl":
            records = (  # each file's text split once
                "select file, unnest(lines) as rec, unnest(range(len(lines))) as i from (select file, "
                "string_split(text, chr(10)) as lines from texts)"
            )
            joiner, head, tail = "chr(10)", "''", "chr(10)"
        else:
            # each file's text parsed once, its elements as they are (json_extract of '$[*]' parses faster
            # than a cast to JSON[], and keeps a null element, which the cast made an SQL NULL that string_agg
            # dropped); a text that is not an array still goes through the cast, which refuses it
            records = (
                "select file, unnest(elements)::varchar as rec, unnest(range(len(elements))) as i from ("
                "select file, case when starts_with(ltrim(text, ' ' || chr(9) || chr(10) || chr(13)), '[') "
                "then json_extract(text, '$[*]') else text::json::json[] end as elements from texts)"
            )
            joiner, head, tail = "','", "'['", "']'"
        # a line ingest quarantined as malformed JSON is still in its file: it has no key (and stays as it is
        # unless the plan drops it by position); try() makes it a NULL key instead of an error
        by_key = (f"try(json_extract_string(r.rec, '$.{source.key}')) = o.key" if source.key else "false")
        return con.execute(
            f"""
            with texts as ({_TEXTS}),
            recs as ({records}),
            hit as (
                select r.file, r.i, r.rec, trim(r.rec) = '' as blank,
                       coalesce(o.drop, false) or q.pos is not null as drop,
                       case when o.patches is null then r.rec else list_reduce(list_prepend(r.rec,
                           list_transform(o.patches, x -> case when x = 'patch' then '{source.patch or "{}"}'
                           else x end)), (a, b) -> json_merge_patch(a, b)::varchar) end as new_rec
                from recs r left join _ops o on {by_key}
                left join _qpos q on q.file = r.file and q.pos = r.i + 1
            ),
            changed as (
                select *, drop or case when new_rec <> rec  -- only a keyed (valid) record is ever patched
                    then new_rec::json::varchar <> rec::json::varchar else false end as touched
                from hit
            )
            select file,
                   {head} || string_agg(case when touched then new_rec else rec end, {joiner} order by i)
                       filter (where not drop and not blank) || {tail},
                   count(*) filter (where touched),
                   coalesce(list(i + 1 order by i) filter (where (drop or blank) and wanted), [])
            from (select *, file in (select unnest($want::varchar[])) as wanted from changed)
            group by file
            having count(*) filter (where touched) > 0
            """,  # noqa: S608
            {"want": want, "direct": direct},
        ).fetchall()
    finally:
        con.unregister("_landing_read")


def _rewrite_json(con: duckdb.DuckDBPyConnection, paths: list[Path], source: LandingSource,
                  gaps: dict[Path, list[int]] | None = None) -> dict[Path, tuple[bytes | None, int]]:
    """New content (None = nothing survives) and records touched for every JSON file that holds a planned record.
    `gaps`, when given, maps the files to report on (those holding quarantined rows) to the positions (as ingest
    numbered them) their new content no longer has: the records dropped, and the blank lines of a JSONL file
    (see _renumber_quarantine). Filled in place."""
    want = [str(p) for p in gaps] if gaps else []
    out: dict[Path, tuple[bytes | None, int]] = {}
    batch: list[Path] = []
    size = 0
    for path in [*paths, None]:
        if path is not None:
            batch.append(path)
            size += path.stat().st_size
            if size < CHUNK_BYTES:
                continue
        if not batch:
            break
        # DuckDB reads the plain files itself (read_text: no copy of their text through Python, and its scan
        # runs on every core, where one row per file handed over from Python is one morsel for one thread); a
        # gzipped file, or one whose name read_text would take as a glob pattern, is read here
        direct = [str(p) for p in batch if _readable_by_duckdb(p)]
        read_here = [p for p in batch if not _readable_by_duckdb(p)]
        try:
            rows = _rewrite_batch(con, source, direct, read_here, want)
        except (duckdb.InvalidInputException, UnicodeDecodeError) as exc:
            if isinstance(exc, duckdb.InvalidInputException) and "UTF-8" not in str(exc):
                raise
            # a file with a line that is not UTF-8 (ingest quarantined that line and loaded the others): read here,
            # the bad bytes written back as U+FFFD in the line they spoil; the other lines are kept as they were
            rows = _rewrite_batch(con, source, [], batch, want, lenient=True)
        for file, text, touched, gone in rows:
            out[Path(file)] = (None if text is None else text.encode(), int(touched))
            if gaps is not None and Path(file) in gaps:
                gaps[Path(file)] = gone
        batch, size = [], 0
    return out


def _csv_ops(con: duckdb.DuckDBPyConnection) -> tuple[pl.Series, pl.Series, pl.DataFrame]:
    """The keys to drop and to patch, and the quarantined (file, pos) of the current _ops/_qpos tables."""
    ops = con.execute("select key, drop, patches is not null and list_contains(patches, 'patch') as p from _ops").pl()
    return ops.filter(pl.col("drop"))["key"], ops.filter(pl.col("p"))["key"], con.execute("select * from _qpos").pl()


def _rewrite_csv(
    path: Path, source: LandingSource, ops: tuple[pl.Series, pl.Series, pl.DataFrame],
    gaps: dict[Path, list[int]] | None = None,
) -> tuple[bytes | None, int] | None:
    """New content (None = nothing survives) and records touched, or None when the file holds no planned record.

    The file is split into records as ingest numbered them (blank lines are no record; a row of the wrong width,
    which ingest quarantined, is one); only dropped and patched records change, every other one is kept byte
    for byte (its quoting and line ending too). `gaps`, when given and holding this file (it has quarantined
    rows), receives the positions of the records dropped from it (see _renumber_quarantine)."""
    raw = _read(path)
    bom = raw.startswith(BOM)
    text = (raw[len(BOM):] if bom else raw).decode("utf-8", errors="replace")
    records = csv_records(text)
    if records is None or records.height < 2:
        return None  # broken quoting: ingest refused the file whole, nothing of it is in the warehouse
    frame = csv_fields(records)
    if frame is None or (source.key and source.key not in frame.columns):
        return None
    drop, patch, qpos = ops
    positions = qpos.filter(pl.col("file") == str(path))["pos"]
    frame = frame.with_row_index("_pos", offset=1)

    def keyed(keys: pl.Series) -> pl.Expr:  # without a key (drop_records) only positions count
        return pl.col(source.key).is_in(keys.implode()) if source.key else pl.lit(False)

    hit_drop = keyed(drop) | pl.col("_pos").is_in(positions.implode())
    blank = [c for c in source.patch if c in frame.columns]
    hit_patch = keyed(patch) & pl.any_horizontal([pl.col(c).fill_null("") != "" for c in blank] or [pl.lit(False)])
    columns = [c for c in frame.columns if c != "_pos"]
    marks = frame.select(drop=hit_drop, patch=hit_patch & ~hit_drop)
    touched = marks.select((pl.col("drop") | pl.col("patch")).sum()).item()
    if not touched:
        return None
    if gaps is not None and path in gaps:
        gaps[path] = frame.select("_pos").with_columns(marks["drop"]).filter(pl.col("drop"))["_pos"].to_list()
    raw = records["raw"].slice(1)
    if marks["patch"].any():  # the patched records written anew (only then: most rewrites only drop records)
        line = frame.select(pl.concat_str([csv_field(c) if c not in blank else pl.lit("") for c in columns],
                                          separator=",")).to_series()
        raw = pl.DataFrame({"raw": raw, "line": line, "patch": marks["patch"]}).select(
            pl.when(pl.col("patch"))
            .then(pl.col("line") + pl.when(pl.col("raw").str.ends_with("\r")).then(pl.lit("\r")).otherwise(pl.lit("")))
            .otherwise(pl.col("raw"))
        ).to_series()
    kept = raw.filter(~marks["drop"])
    if kept.len() == 0:
        return None, int(touched)
    out = records["raw"][0] + "\n" + kept.str.join("\n").item() + ("\n" if text.endswith("\n") else "")
    return (BOM if bom else b"") + out.encode(), int(touched)


def _emptied(data: bytes | None) -> bool:
    """True when a rewrite leaves nothing of a file (no record, or only an empty array or blank lines)."""
    return data is None or not data.strip(b"[]\n")


def drop_records(con: duckdb.DuckDBPyConnection, fmt: str, positions: pl.DataFrame) -> dict[Path, bytes | None]:
    """The new on-disk bytes (None: nothing survives) of each file once the records at `positions` (columns
    file: the path as str, pos: the 1-based line, array element or CSV row ingest gave the record) are dropped.
    Nothing is written: the caller writes (write_many) and deletes."""
    con.execute("create or replace temp table _ops (key varchar, drop boolean, patches varchar[])")
    con.register("_positions", positions.select("file", pl.col("pos").cast(pl.Int64)))
    try:
        con.execute("create or replace temp table _qpos as select file, pos from _positions")
    finally:
        con.unregister("_positions")
    source = LandingSource("", "", fmt, "")
    paths = sorted({Path(f) for f in positions["file"].unique()})
    if fmt == "csv":
        ops = _csv_ops(con)
        results = {p: r for p in paths if (r := _rewrite_csv(p, source, ops)) is not None}
    else:
        results = _rewrite_json(con, paths, source)
    for tmp in ("_ops", "_qpos"):
        con.execute(f"drop table if exists {tmp}")
    return {p: None if _emptied(data) else encode(p, data) for p, (data, _) in results.items()}


def purge_landing(con: duckdb.DuckDBPyConnection, run_id: str, landing: Path,
                  point: Callable[[str], None] | None = None) -> list[tuple[str, str, str, int]]:
    """Rewrite (or delete) every landing file holding a planned record; (tenant, dataset, action, records) counts.

    Only the files the plan named (lethe_meta.purge_landing_files) are opened; a tenant's dataset loaded
    before record copies were tracked is scanned whole."""
    counts: list[tuple[str, str, str, int]] = []
    listed: dict[tuple[str, str], list[str | None]] = {}
    for tenant, dataset, rel in con.execute(
        "select tenant_id, dataset, path from lethe_meta.purge_landing_files where run_id = ? order by all",
        [run_id],
    ).fetchall():
        listed.setdefault((tenant, dataset), []).append(rel)
    pairs = sorted(listed)
    for tenant, dataset in pairs:
        source = LANDING.get(dataset)
        if source is None:
            continue
        _ops(con, run_id, tenant, dataset)
        _quarantined(con, run_id, tenant, landing)
        rels = listed[(tenant, dataset)]
        if None in rels:
            paths = _files(landing / tenant, source)
        else:
            paths = [p for rel in rels if rel is not None and (p := landing / rel).is_file()]
        done = _already_written(con, run_id, tenant, dataset, landing, paths)
        counts += [(tenant, f"landing:{dataset}", action, n) for action, n in done.values()]
        paths = [p for p in paths if p.relative_to(landing).as_posix() not in done]
        gaps = _with_quarantined_rows(con, tenant, landing, paths)
        if source.fmt == "csv":
            ops = _csv_ops(con)
            results = {p: r for p in paths if (r := _rewrite_csv(p, source, ops, gaps)) is not None}
        else:
            results = _rewrite_json(con, paths, source, gaps)
        kept: dict[Path, bytes] = {}
        gone: list[Path] = []
        digests: dict[Path, str] = {}
        written: list[tuple[str, str, str | None, int]] = []
        for path, (data, touched) in sorted(results.items()):
            if _emptied(data):
                gone.append(path)
            else:
                kept[path] = encode(path, data)
                digests[path] = hashlib.sha256(kept[path]).hexdigest()
            action = "rewrite" if data else "delete_file"
            counts.append((tenant, f"landing:{dataset}", action, touched))
            written.append((path.relative_to(landing).as_posix(), action, digests.get(path), touched))
        noted = {r for (r,) in con.execute(
            "select distinct path from lethe_meta.purge_landing_written where run_id = ? and tenant_id = ? "
            "and dataset = ?", [run_id, tenant, dataset]).fetchall()}
        con.execute("begin")
        try:  # a file's quarantined rows are renumbered once, with the note that says the file is being rewritten
            _note_written(con, run_id, tenant, dataset, written)
            _renumber_quarantine(con, tenant, {
                rel: gaps[path] for path in kept
                if path in gaps and (rel := path.relative_to(landing).as_posix()) not in noted})
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        record_in_manifest(con, landing, kept, gone, digests)  # before the disk: a killed run redoes the same bytes
        write_many(kept)
        for path in gone:
            path.unlink(missing_ok=True)
        removed, rewritten = len(gone), len(kept)
        if removed or rewritten:
            log.info("landing %s/%s: %d files rewritten, %d deleted", tenant, dataset, rewritten, removed)
        if point is not None:
            point(f"landing:{dataset}")
    _forget_copies(con, run_id)
    return counts


def _with_quarantined_rows(con: duckdb.DuckDBPyConnection, tenant: str, landing: Path,
                           paths: list[Path]) -> dict[Path, list[int]]:
    """{path: []} for the files among `paths` that quarantined rows of the tenant name by position: the files
    whose dropped positions a rewrite reports (see _renumber_quarantine)."""
    if not paths or not catalog.table_exists(con, "quarantine", "rows"):
        return {}
    rels = {p.relative_to(landing).as_posix(): p for p in paths}
    found = con.execute(
        "select distinct source_file from quarantine.rows where tenant_id = ? and source_row is not null "
        "and list_contains(?, source_file)",
        [tenant, list(rels)],
    ).fetchall()
    return {rels[rel]: [] for (rel,) in found}


def _renumber_quarantine(con: duckdb.DuckDBPyConnection, tenant: str, gaps: dict[str, list[int]]) -> None:
    """Point the quarantined rows of rewritten files (relative path: the positions the new content no longer has)
    at their lines' new positions. The purge drops a quarantined line by the position ingest gave it, and a
    rewrite moves every line after a dropped record (or a blank JSONL line) up: a later purge (the row falls due,
    or its subject is erased) must drop that line, not the one that took its old place. A quarantined row whose
    own line was dropped (a copy of a record the run deleted by its id) keeps no position: it names no line."""
    frame = pl.DataFrame({"file": list(gaps), "pos": list(gaps.values())},
                         schema={"file": pl.String, "pos": pl.List(pl.Int64)}).explode("pos").drop_nulls()
    if frame.height == 0:
        return
    con.register("_gaps", frame)
    try:
        con.execute(
            """
            update quarantine.rows q
            set source_row = case when m.dropped then null else q.source_row - m.shift end
            from (
                select r.source_file, r.source_row, count(g.pos) filter (where g.pos < r.source_row) as shift,
                       bool_or(g.pos = r.source_row) as dropped
                from (select distinct source_file, source_row from quarantine.rows
                      where tenant_id = $tenant and source_row is not null
                        and source_file in (select distinct file from _gaps)) r
                join _gaps g on g.file = r.source_file and g.pos <= r.source_row
                group by all
            ) m
            where q.tenant_id = $tenant and q.source_file = m.source_file and q.source_row = m.source_row
            """,
            {"tenant": tenant},
        )
    finally:
        con.unregister("_gaps")


def _already_written(con: duckdb.DuckDBPyConnection, run_id: str, tenant: str, dataset: str, landing: Path,
                     paths: list[Path]) -> dict[str, tuple[str, int]]:
    """{relative path: (action, records)} of the files this run already rewrote (the file on disk has the bytes
    it wrote) or deleted (it is gone). A run killed after writing some files and run again must not rewrite
    those a second time: records the plan drops by position (quarantined copies) would then name whatever
    record moved into that position."""
    rows = con.execute(
        "select path, action, sha256, records from lethe_meta.purge_landing_written "
        "where run_id = ? and tenant_id = ? and dataset = ?",
        [run_id, tenant, dataset],
    ).fetchall()
    if not rows:
        return {}
    present = {p.relative_to(landing).as_posix(): p for p in paths}
    done: dict[str, tuple[str, int]] = {}
    for rel, action, sha, records in rows:
        path = present.get(rel)
        deleted = sha is None and not (landing / rel).exists()
        rewritten = sha is not None and path is not None and hash_file(path) == sha
        if deleted or rewritten:
            done[rel] = (action, records)
    return done


def _note_written(con: duckdb.DuckDBPyConnection, run_id: str, tenant: str, dataset: str,
                  written: list[tuple[str, str, str | None, int]]) -> None:
    """Record, before touching the disk, what the run is about to do to each file: (path, action as counted,
    sha256 of the new bytes or None for a deletion, records). See _already_written."""
    if not written:
        return
    frame = pl.DataFrame([(run_id, tenant, dataset, *w) for w in written], orient="row", schema={
        "run_id": pl.String, "tenant_id": pl.String, "dataset": pl.String, "path": pl.String, "action": pl.String,
        "sha256": pl.String, "records": pl.Int64})
    con.register("_written", frame)
    try:
        con.execute("insert into lethe_meta.purge_landing_written select * from _written")
    finally:
        con.unregister("_written")


def record_in_manifest(con: duckdb.DuckDBPyConnection, landing: Path, rewritten: dict[Path, bytes],
                       deleted: list[Path], digests: dict[Path, str]) -> None:
    """Tell the ingest manifest the new size and sha256 of files about to be rewritten (bytes as on disk), and
    mark files about to be deleted 'purged', so the next ingest does not report a purge's own rewrite as a
    delivery whose content changed under the same path. `digests`: each rewritten file's new sha256."""
    if not (rewritten or deleted) or not catalog.table_exists(con, "lethe_meta", "manifest"):
        return
    rows = pl.DataFrame(
        {
            "path": [p.relative_to(landing).as_posix() for p in [*rewritten, *deleted]],
            "size_bytes": [len(b) for b in rewritten.values()] + [None] * len(deleted),
            "sha256": [digests[p] for p in rewritten] + [None] * len(deleted),
        },
        schema={"path": pl.String, "size_bytes": pl.Int64, "sha256": pl.String},
    )
    con.register("_rewritten", rows)
    try:
        con.execute(
            "update lethe_meta.manifest m set size_bytes = coalesce(r.size_bytes, m.size_bytes), "
            "sha256 = coalesce(r.sha256, m.sha256), "
            "status = case when r.sha256 is null then 'purged' else m.status end "
            "from _rewritten r where m.path = r.path"
        )
    finally:
        con.unregister("_rewritten")


def _forget_copies(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Drop the copy index rows of the records the run deleted (their files no longer hold them)."""
    if catalog.table_exists(con, "lethe_meta", "record_copies"):
        con.execute(
            "delete from lethe_meta.record_copies c using lethe_meta.purge_plans p where p.run_id = ? "
            "and p.action = 'delete' and p.data_category <> 'interaction.recording' and p.tenant_id = c.tenant_id "
            "and p.source_table = c.dataset and regexp_replace(p.record_id, '[:|][0-9]+$', '') = c.record_id",
            [run_id],
        )


def inside_folder(path: Path, folder: Path) -> bool:
    """True when `path` names an entry of `folder` or of a folder below it, once '..' and symbolic links in its
    folders are resolved (the entry itself may be a link: unlinking it removes the link, not what it points to)."""
    return path.parent.resolve().is_relative_to(folder.resolve())


def planned_path(landing: Path, rel: str) -> Path:
    """The file a lethe_meta.purge_files path names: absolute as it is, else relative to the landing root."""
    return Path(rel) if rel.startswith("/") else landing / rel


def planned_file(path: Path, folder: Path) -> bool:
    """True when the purge may delete `path` for a plan: a file (or a link) inside `folder`, not a folder (a
    Recording.Location naming the recordings folder itself would otherwise stop every purge on unlink)."""
    return (path.is_symlink() or not path.is_dir()) and inside_folder(path, folder)


def delete_planned_files(con: duckdb.DuckDBPyConnection, run_id: str,
                         landing: Path) -> list[tuple[str, str, str, str, int]]:
    """Delete the recordings and transcript files of the plan; (tenant, category, target, action, files) counts.

    A path comes from the data: a transcript's is the file ingest loaded, but a recording's may be a contact
    record's Recording.Location, relative to the tenant folder or absolute. Only a file inside that tenant's own
    folder for the dataset (<landing>/<tenant>/recordings, .../transcripts) is ever deleted; any other path (an
    absolute path elsewhere on the machine, '..' out of the folder, another tenant's file, a folder) is left
    alone, logged, and counted as not_deleted, so a record can never make the purge delete a file that is not its
    own, nor stop it."""
    rows = con.execute(
        "select tenant_id, dataset, path, data_category from lethe_meta.purge_files where run_id = ?", [run_id]
    ).fetchall()
    counts: dict[tuple[str, str, str, str], int] = {}
    plan: list[tuple[str, str, str, str, Path, bool]] = []
    for tenant, dataset, rel, category in rows:
        path = planned_path(landing, rel)
        present = path.is_symlink() or path.exists()
        plan.append((tenant, dataset, rel, category, path, present and planned_file(path, landing / tenant / dataset)))
    # the manifest says each file is gone before it goes (and one a killed run deleted already): if it comes back
    # (a restore from a backup), ingest loads it as a new delivery, so an erased person's records are dropped again
    # (only the tenant's own: a record naming another tenant's file never touches that tenant's manifest row)
    record_in_manifest(con, landing, {}, [
        path for tenant, dataset, _, _, path, ok in plan
        if path.is_relative_to(landing) and (ok or (not (path.is_symlink() or path.exists())
                                                    and inside_folder(path, landing / tenant / dataset)))], {})
    for tenant, dataset, rel, category, path, ok in plan:
        if not (path.is_symlink() or path.exists()):
            continue  # gone already, or a location that is no local file (an S3 key as Connect writes it)
        if not ok:
            log.warning("%s: not deleted: it is a folder, or outside %s's %s folder in the landing zone", rel, tenant,
                        dataset)
            action = "not_deleted"
        else:
            path.unlink()
            action = "delete_file"
        key = (tenant, category, f"file:{dataset}", action)
        counts[key] = counts.get(key, 0) + 1
    return [(t, c, target, action, n) for (t, c, target, action), n in sorted(counts.items())]


def purge_exports(
    con: duckdb.DuckDBPyConnection, run_id: str, exports: Path, policy: Policy, as_of: datetime
) -> list[tuple[str, int]]:
    """Delete exports of erased subjects (with what a killed write of one left), and every export older than its
    tenant's DSR SLA; (tenant, files)."""
    if not exports.is_dir():
        return []
    erased = {
        (t, k)
        for t, k in con.execute(
            "select distinct tenant_id, subject_key from lethe_meta.purge_identities where run_id = ? "
            "and subject_key is not null",
            [run_id],
        ).fetchall()
    }
    counts: dict[str, int] = {}
    for tenant_dir in sorted(p for p in exports.iterdir() if p.is_dir()):
        tenant = tenant_dir.name
        days = policy.tenants[tenant].dsr_sla_days if tenant in policy.tenants else 30
        cutoff = as_of.timestamp() - days * 86400
        for entry in sorted(tenant_dir.iterdir()):
            old = entry.stat().st_mtime < cutoff
            # an export is named after its subject key; `.<name>.<pid>.<token>.tmp` is one a killed write left
            if (tenant, entry.name.lstrip(".").split(".")[0]) in erased or old:
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                counts[tenant] = counts.get(tenant, 0) + 1
    return sorted(counts.items())
