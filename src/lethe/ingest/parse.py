"""Parse a batch of landing files into one staging table of text columns, set-based in DuckDB.

JSON is read by one `read_json` call over all files of the batch, with the contract's fields as
explicit columns; CSV by one `read_csv` call per distinct header. A call that fails is split in halves
until the failing files are isolated; those (and tiny files) take the careful path: the file's text is
read in Python (truncated gzip, non-UTF-8, empty) and parsed line by line with DuckDB's JSON functions,
so a malformed line is quarantined with its row number while the rest of the file loads. A CSV file that
read_csv refuses is split into records by a pass over its lines (polars string ops); when its quoting is
sound and only some rows have the wrong number of fields, those rows are quarantined and the rest loads.
Nested fields are flattened by their contract `physicalName` (`CustomerEndpoint.Address`, `Transcript[].Content`).
"""

# ruff: noqa: S608 -- SQL is generated from contract identifiers, quoted with q(); values with _lit() or bound.

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from lethe.contracts import Contract, Property
from lethe.contracts.rules import q
from lethe.csvtext import csv_fields, csv_records
from lethe.fsutil import is_gzip
from lethe.ingest.files import FileText, LandingFile, read_text

log = logging.getLogger(__name__)

STAGE = "_stage"
# the text of every record that did not parse (a malformed JSON line, an array element or transcript message that
# is not an object): its fields are all null in the stage, so the quarantine keeps this text instead, and the
# tombstone check and the erasure find identities in it
UNPARSED = "_unparsed"
UNPARSED_DDL = f"create or replace temp table {UNPARSED} (_source_file varchar, _source_row bigint, _text varchar)"
MAX_LINE = 16 * 1024 * 1024  # longest CSV record; DuckDB sizes its read buffer from it
MAX_OBJECT = 256 * 1024 * 1024  # largest JSON document read_json accepts
TINY = 64  # bytes: files this small (empty, whitespace, an empty gzip) take the careful path for its reason
READ_FORMAT = {"jsonl": "newline_delimited", "json_array": "array", "json": "auto"}


@dataclass(frozen=True)
class FileProblem:
    """A file that could not be parsed at all, and why."""

    rel: str
    reason: str


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_path(parts: str) -> str:
    return "$." + ".".join('"' + p.replace('"', '\\"') + '"' for p in parts.split("."))


def _json_column(prop: Property, doc: str, msg: str | None) -> str:
    """SQL extracting one property's text from a JSON document (or from a transcript message)."""
    phys = prop.physical_name
    src = doc
    if phys.startswith("Transcript[]."):
        phys = phys.removeprefix("Transcript[].")
        src = msg or doc
        if phys == "index":
            return "cast(_msg_n - 1 as varchar)"
    path = _lit(_json_path(phys))
    if prop.logical_type == "array":
        value = f"json_extract({src}, {path})"
        return (
            f"case when {value} is null then null else case json_type({value}) when 'ARRAY' then from_json({value}, '[\"VARCHAR\"]') "
            f"when 'NULL' then null else [json_extract_string({src}, {path})] end end"
        )
    return _decoded(prop, f"json_extract_string({src}, {path})")


def _decoded(prop: Property, text: str) -> str:
    """SQL of a property's text with its source encoding undone (Unix seconds to an ISO timestamp)."""
    if prop.source_encoding == "unix_seconds":
        return (
            f"case when regexp_matches({text}, '^[0-9]+(\\.[0-9]+)?$') "
            f"then strftime(make_timestamp(cast(cast({text} as double) * 1000000 as bigint)), '%Y-%m-%dT%H:%M:%SZ') "
            f"else {text} end"
        )
    return text


def _select_columns(contract: Contract, doc: str, msg: str | None = None) -> str:
    return ", ".join(f"{_json_column(p, doc, msg)} as {q(p.name)}" for p in contract.properties)


def _null_columns(contract: Contract) -> str:
    return ", ".join(
        f"cast(null as {'varchar[]' if p.logical_type == 'array' else 'varchar'}) as {q(p.name)}"
        for p in contract.properties
    )


def _register_texts(con: duckdb.DuckDBPyConnection, texts: list[FileText]) -> None:
    table = pa.table({
        "_source_file": pa.array([t.file.rel for t in texts], pa.string()),
        "_text": pa.array([t.text for t in texts], pa.large_string()),
        "_replaced": pa.array([t.replaced for t in texts], pa.bool_()),
    })
    con.register("_texts", table)


def _parse_json(con: duckdb.DuckDBPyConnection, contract: Contract, texts: list[FileText]) -> list[FileProblem]:
    """Parse the texts record by record into `_stage` (a record that does not parse gets a parse error and null
    fields) and `_unparsed` (its text); return the files that are not JSON at all."""
    _register_texts(con, texts)
    problems: list[FileProblem] = []
    try:
        # _units: one row per record with its parse error, and its text when it did not parse
        if contract.format == "jsonl":
            # in a file read leniently, a line holding U+FFFD held bytes that are no UTF-8: it alone is quarantined
            units = """
                select * exclude (_bad, _doc), case when _bad is null then _doc end as _doc, _bad as _parse_error,
                       case when _bad is not null then line end as _text
                from (
                    select *, case when _replaced and contains(line, chr(65533))
                                   then 'line is not UTF-8 (bytes that are no character)'
                                   when _doc is null then 'malformed JSON line' end as _bad
                    from (
                        select _source_file, _source_row, line, _replaced,
                               case when json_valid(line) and json_type(line) = 'OBJECT' then line::json end as _doc
                        from (select t._source_file, t._replaced, l.n as _source_row, rtrim(l.line, chr(13)) as line
                              from _texts t, unnest(string_split(t._text, chr(10))) with ordinality as l(line, n))
                        where trim(line) <> ''
                    )
                )
            """
            columns = _select_columns(contract, "_doc")
        else:
            kind = "ARRAY" if contract.format == "json_array" else "OBJECT"
            # a transcript is an object with its messages in a Transcript array: one without them holds no record
            # to load or quarantine, so it is refused as a file rather than counted as read and loaded as nothing
            messages = "json_type(_text, '$.Transcript') is not distinct from 'ARRAY'" if kind == "OBJECT" else "true"
            bad = con.execute(
                f"""
                select _source_file,
                       case when not json_valid(_text) then null else lower(json_type(_text)) end as found
                from _texts
                where not json_valid(_text) or json_type(_text) <> '{kind}' or not ({messages})
                """
            ).fetchall()
            malformed = ("not valid JSON (malformed or truncated: an array or object never closed?)" if kind == "ARRAY"
                         else "not a valid JSON object (malformed or truncated)")
            wanted = "an array of events" if kind == "ARRAY" else "an object"
            problems = [
                FileProblem(rel, malformed if found is None
                            else f"not {wanted}: the file holds a JSON {found}" if found != kind.lower()
                            else "no Transcript array of messages: not a chat transcript")
                for rel, found in bad
            ]
            good = (f"select _source_file, _text::json as _doc from _texts "
                    f"where json_valid(_text) and json_type(_text) = '{kind}' and {messages}")
            if contract.format == "json_array":
                units = f"""
                    select d._source_file, e.n as _source_row, e.el,
                           case when json_type(e.el) <> 'OBJECT' then 'array element is not a JSON object' end
                               as _parse_error,
                           case when json_type(e.el) <> 'OBJECT' then e.el::varchar end as _text
                    from ({good}) d, unnest(json_extract(d._doc, '$[*]')) with ordinality as e(el, n)
                """
                columns = _select_columns(contract, "el")
            else:
                units = f"""
                    select d._source_file, d._doc, m.msg, m.n as _msg_n, m.n as _source_row,
                           case when json_type(m.msg) <> 'OBJECT' then 'transcript message is not a JSON object' end
                               as _parse_error,
                           case when json_type(m.msg) <> 'OBJECT' then m.msg::varchar end as _text
                    from ({good}) d, unnest(json_extract(d._doc, '$.Transcript[*]')) with ordinality as m(msg, n)
                """
                columns = _select_columns(contract, "_doc", "msg")
        con.execute(f"create or replace temp table _units as {units}")
        con.execute(f"insert into {STAGE} select _source_file, _source_row, _parse_error, {columns} from _units")
        con.execute(f"insert into {UNPARSED} select _source_file, _source_row, _text from _units where _text is not null")
        return problems
    finally:
        con.unregister("_texts")
        con.execute("drop table if exists _units")


def _reader_tree(contract: Contract) -> dict:
    """The contract's physical fields as a tree of read_json column types (nested objects as dicts)."""
    tree: dict = {}
    for p in contract.properties:
        parts = p.physical_name.split(".")
        if parts[0] == "Transcript[]":
            if parts[1] == "index":
                continue
            parts = ["Transcript", *parts[1:]]
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = "JSON" if p.logical_type == "array" else "VARCHAR"
    return tree


def _reader_type(node: str | dict, *, is_list: bool = False) -> str:
    if isinstance(node, str):
        return node
    struct = "STRUCT(" + ", ".join(f"{q(k)} {_reader_type(v)}" for k, v in node.items()) + ")"
    return struct + ("[]" if is_list else "")


def _compression(paths: list[str]) -> str:
    """read_json's and read_csv's compression for a group of files all gzipped or all plain: named, because
    DuckDB's 'auto' knows `.gz` only in lower case, and a Windows export may end in `.CSV.GZ`. Plain is
    'uncompressed': read_json refuses 'none' (read_csv takes both), and every plain JSON file then went the
    slow path, parsed whole in Python, which ran out of memory on a 200,000-subject landing zone."""
    return "gzip" if is_gzip(Path(paths[0])) else "uncompressed"


def _reader_sql(contract: Contract, paths: list[str]) -> str:
    tree = _reader_tree(contract)
    cols = "{" + ", ".join(f"{_lit(k)}: {_lit(_reader_type(v, is_list=k == 'Transcript'))}" for k, v in tree.items()) + "}"
    files = "[" + ", ".join(_lit(p) for p in paths) + "]"
    return (f"read_json({files}, format='{READ_FORMAT[contract.format]}', columns={cols}, filename=true, "
            f"maximum_object_size={MAX_OBJECT}, compression='{_compression(paths)}')")


def _reader_column(prop: Property) -> str:
    """SQL of one property's text from a read_json row (`j`) or transcript message (`m.msg`)."""
    parts = prop.physical_name.split(".")
    if parts[0] == "Transcript[]":
        if parts[1] == "index":
            return "cast(m.n - 1 as varchar)"
        expr = "m.msg"
        parts = parts[1:]
    else:
        expr = f"j.{q(parts[0])}"
        parts = parts[1:]
    for part in parts:
        expr = f"struct_extract({expr}, {_lit(part)})"
    if prop.logical_type == "array":
        return (f"case when {expr} is null then null else case json_type({expr}) when 'ARRAY' then from_json({expr}, '[\"VARCHAR\"]') "
                f"when 'NULL' then null else [json_extract_string({expr}, '$')] end end")
    return _decoded(prop, expr)


def _load_json_group(con: duckdb.DuckDBPyConnection, contract: Contract, files: list[LandingFile]) -> list[LandingFile]:
    """Read files with one read_json call into `_stage`; return files that need the careful path instead."""
    prefix = len(str(files[0].path)) - len(files[0].rel)
    con.execute(f"create or replace temp table _json as select * from {_reader_sql(contract, [str(f.path) for f in files])}")
    try:
        careful: list[LandingFile] = []
        if contract.format == "json":
            # one transcript per file, its messages in a Transcript array: a file that held several objects, or
            # one without that array, goes the careful way, which names its problem
            odd = {r for (r,) in con.execute(
                f"select substr(filename, {prefix + 1}) from _json group by filename "
                f'having count(*) <> 1 or bool_or("Transcript" is null)').fetchall()}
            careful = [f for f in files if f.rel in odd]
            if careful:
                con.execute(f"delete from _json where list_contains(?, substr(filename, {prefix + 1}))", [sorted(odd)])
        cols = ", ".join(f"{_reader_column(p)} as {q(p.name)}" for p in contract.properties)
        if contract.format == "json":
            con.execute(f"""
                insert into {STAGE}
                select substr(j.filename, {prefix + 1}), m.n, null, {cols}
                from _json j, unnest(j."Transcript") with ordinality as m(msg, n)
            """)
        else:
            con.execute(f"""
                insert into {STAGE}
                select substr(j.filename, {prefix + 1}), j.rowid - min(j.rowid) over (partition by j.filename) + 1,
                       null, {cols}
                from _json j
            """)
        return careful
    finally:
        con.execute("drop table if exists _json")


def _careful(con: duckdb.DuckDBPyConnection, contract: Contract, file: LandingFile) -> list[FileProblem]:
    """One file through Python: its read problem, or its rows parsed line by line / element by element."""
    text = read_text(file, lenient=contract.format == "jsonl")
    if text.problem is not None:
        return [FileProblem(file.rel, text.problem)]
    return _parse_json(con, contract, [text])


def _closes_array(file: LandingFile) -> bool:
    """True when the file's last non-blank character is `]` (read_json accepts an array never closed)."""
    try:
        if not is_gzip(file.path):
            with file.path.open("rb") as fh:
                fh.seek(max(0, file.size - 4096))
                return fh.read().rstrip().endswith(b"]")
        tail = b""
        with gzip.open(file.path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                tail = (tail + chunk)[-4096:]
        return tail.rstrip().endswith(b"]")
    except (OSError, EOFError, zlib.error):
        return False


def _parse_json_files(con: duckdb.DuckDBPyConnection, contract: Contract, files: list[LandingFile]) -> list[FileProblem]:
    problems: list[FileProblem] = []
    fast = [f for f in files if f.size >= TINY and (contract.format != "json_array" or _closes_array(f))]
    held = {f.rel for f in fast}
    careful = [f for f in files if f.rel not in held]
    pending = [[f for f in fast if not is_gzip(f.path)], [f for f in fast if is_gzip(f.path)]]  # one compression a call
    while pending:
        group = pending.pop()
        if not group:
            continue
        try:
            careful += _load_json_group(con, contract, group)
        except duckdb.Error as exc:
            if len(group) == 1:
                log.debug("%s: read_json failed (%s); parsing it carefully", group[0].rel, str(exc).split("\n")[0])
                careful.append(group[0])
            else:  # isolate the failing file(s); the others still load in one call
                mid = len(group) // 2
                pending += [group[:mid], group[mid:]]
    for f in sorted(careful, key=lambda f: f.rel):
        problems += _careful(con, contract, f)
    return problems


def _first_line(file: LandingFile) -> str | None:
    """The first line of a file (gzip and BOM handled), or None when it cannot be read cheaply."""
    try:
        opener = gzip.open if is_gzip(file.path) else open
        with opener(file.path, "rb") as fh:
            head = fh.readline(MAX_LINE)
        return head.decode("utf-8-sig")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return None


def _csv_header(text: str) -> list[str]:
    first = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    return [h.strip() for h in first]


def _read_csv_sql(paths: list[str], header: list[str]) -> str:
    cols = "{" + ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in header) + "}"
    files = "[" + ", ".join(_lit(p) for p in paths) + "]"
    return (
        f"read_csv({files}, header=true, columns={cols}, auto_detect=false, delim=',', quote='\"', "
        f"escape='\"', filename=true, max_line_size={MAX_LINE}, strict_mode=true, null_padding=false, "
        f"compression='{_compression(paths)}')"
    )


def _parse_csv(con: duckdb.DuckDBPyConnection, contract: Contract, files: list[LandingFile]) -> list[FileProblem]:
    problems: list[FileProblem] = []
    groups: dict[tuple[tuple[str, ...], bool], list[LandingFile]] = {}
    required = [p.physical_name for p in contract.properties if p.required]
    for f in files:
        first = _first_line(f) if f.size >= TINY else None
        if first is None:
            text = read_text(f)
            if text.problem is not None:
                problems.append(FileProblem(f.rel, text.problem))
                continue
            first = text.text or ""
        header = _csv_header(first)
        missing = [c for c in required if c not in header]
        if missing or len(set(header)) != len(header):
            why = f"missing required column(s) {', '.join(missing)}" if missing else "repeated column names"
            problems.append(FileProblem(f.rel, f"wrong CSV header: {why} (found: {','.join(header)[:200]})"))
            continue
        groups.setdefault((tuple(header), is_gzip(f.path)), []).append(f)  # one compression a read_csv call
    for (header, _), members in groups.items():
        pending = [members]
        while pending:
            group = pending.pop()
            try:
                _load_csv_group(con, contract, list(header), group)
            except duckdb.Error as exc:
                if len(group) == 1:
                    text = read_text(group[0])
                    first = _csv_error(exc)
                    if text.problem is not None:
                        problems.append(FileProblem(group[0].rel, text.problem))
                    elif not _load_ragged_csv(con, contract, list(header), text):
                        problems.append(FileProblem(group[0].rel, f"not a valid CSV file ({first})"))
                else:  # isolate the bad file(s); the good ones still load
                    mid = len(group) // 2
                    pending += [group[:mid], group[mid:]]
    return problems


def _csv_error(exc: duckdb.Error) -> str:
    """What read_csv found wrong, without the offending line's text (personal data, not for a quarantine reason):
    'line 3: value with unterminated quote found' rather than 'Invalid Input Error: CSV Error on Line: 3'."""
    lines = str(exc).split("\n")
    where = re.search(r"CSV Error on Line: (\d+)", lines[0])
    why = next((ln.strip().rstrip(".") for ln in lines[1:] if ln.strip() and not ln.startswith("Original Line")), "")
    if where and why:
        return f"line {where.group(1)}: {why[0].lower()}{why[1:]}"[:300]
    return lines[0][:300]


def _load_ragged_csv(con: duckdb.DuckDBPyConnection, contract: Contract, header: list[str], text: FileText) -> bool:
    """Load a file read_csv refused when its only fault is rows with the wrong number of fields: those rows go to
    `_stage` with a parse error (their fields mapped by position, for the quarantined record), the others load.
    False (nothing staged) when the quoting is broken or no row is ragged: the file is refused whole."""
    records = csv_records(text.text or "")
    if records is None or records.height < 2 or records["fields"][0] != len(header):
        return False
    data = records.slice(1)
    width = len(header)
    if data.filter(pl.col("fields") != width).height == 0:
        return False
    frame = csv_fields(records)
    if frame is None:
        log.debug("%s: ragged rows found but the rest does not parse as the line pass split it", text.file.rel)
        return False
    n = pl.col("_fields")
    plural = pl.when(n == 1).then(pl.lit("")).otherwise(pl.lit("s"))
    stage = frame.with_columns(data["fields"].alias("_fields")).select(
        pl.lit(text.file.rel).alias("_source_file"),
        pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("_source_row"),
        pl.when(n != width).then(pl.format("row has {} field{}, header has {}", n, plural, pl.lit(width)))
        .alias("_parse_error"),
        *[pl.when(pl.col(c) != "").then(pl.col(c)).alias(h) for c, h in zip(frame.columns, header, strict=True)],
    )
    cols = ", ".join(
        (f"r.{q(p.physical_name)}" if p.physical_name in header else "cast(null as varchar)") + f" as {q(p.name)}"
        for p in contract.properties
    )
    con.register("_ragged", stage.to_arrow())
    try:
        con.execute(f"insert into {STAGE} select r._source_file, r._source_row, r._parse_error, {cols} from _ragged r")
    finally:
        con.unregister("_ragged")
    log.info("%s: %d row(s) with the wrong number of fields quarantined; the other rows load",
             text.file.rel, data.filter(pl.col("fields") != width).height)
    return True


def _load_csv_group(con: duckdb.DuckDBPyConnection, contract: Contract, header: list[str], group: list[LandingFile]) -> None:
    rel_of = {str(f.path): f.rel for f in group}
    con.execute(f"create or replace temp table _csv as select * from {_read_csv_sql(list(rel_of), header)}")
    con.register("_relmap", pa.table({"filename": list(rel_of), "rel": list(rel_of.values())}))
    try:
        cols = ", ".join(
            (f"c.{q(p.physical_name)}" if p.physical_name in header else "cast(null as varchar)") + f" as {q(p.name)}"
            for p in contract.properties
        )
        con.execute(f"""
            insert into {STAGE}
            select m.rel, c.rowid - min(c.rowid) over (partition by c.filename) + 1, null, {cols}
            from _csv c join _relmap m using (filename)
        """)
    finally:
        con.unregister("_relmap")
        con.execute("drop table if exists _csv")


def parse_batch(con: duckdb.DuckDBPyConnection, contract: Contract, files: list[LandingFile]) -> list[FileProblem]:
    """Fill the temp table `_stage` (`_source_file`, `_source_row`, `_parse_error`, one text column per
    property) from the files; return the files that could not be parsed at all."""
    con.execute(f"create or replace temp table {STAGE} as select cast(null as varchar) as _source_file, "
                f"cast(null as bigint) as _source_row, cast(null as varchar) as _parse_error, "
                f"{_null_columns(contract)} limit 0")
    con.execute(UNPARSED_DDL)
    if contract.format == "csv":
        return _parse_csv(con, contract, files)
    return _parse_json_files(con, contract, files)
