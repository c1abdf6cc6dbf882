"""Parse a batch of landing files into one staging table of text columns, set-based in DuckDB.

JSON is parsed by DuckDB's JSON functions over all files of the batch at once (the bytes were read
for hashing anyway); CSV by one `read_csv` call per distinct header. Nested fields are flattened by
their contract `physicalName` (`CustomerEndpoint.Address`, `Transcript[].Content`).
"""

# ruff: noqa: S608 -- SQL is generated from contract identifiers, quoted with q(); values with _lit() or bound.

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from lethe.contracts import Contract, Property
from lethe.contracts.rules import q
from lethe.ingest.files import FileText

log = logging.getLogger(__name__)

STAGE = "_stage"
MAX_LINE = 16 * 1024 * 1024  # longest CSV record; DuckDB sizes its read buffer from it


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
    text = f"json_extract_string({src}, {path})"
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
    })
    con.register("_texts", table)


def _parse_json(con: duckdb.DuckDBPyConnection, contract: Contract, texts: list[FileText]) -> list[FileProblem]:
    _register_texts(con, texts)
    try:
        if contract.format == "jsonl":
            con.execute(f"""
                create or replace temp table {STAGE} as
                with lines as (
                    select t._source_file, l.n as _source_row, rtrim(l.line, chr(13)) as line
                    from _texts t, unnest(string_split(t._text, chr(10))) with ordinality as l(line, n)
                ),
                docs as (
                    select _source_file, _source_row,
                           case when json_valid(line) and json_type(line) = 'OBJECT' then line::json end as _doc
                    from lines where trim(line) <> ''
                )
                select _source_file, _source_row,
                       case when _doc is null then 'malformed JSON line' end as _parse_error,
                       {_select_columns(contract, '_doc')}
                from docs
            """)
            return []
        kind = "ARRAY" if contract.format == "json_array" else "OBJECT"
        bad = con.execute(
            f"select _source_file from _texts where not json_valid(_text) or json_type(_text) <> '{kind}'"
        ).fetchall()
        problems = [
            FileProblem(rel, "not valid JSON (malformed or truncated: an array or object never closed?)"
                        if kind == "ARRAY" else "not a valid JSON object (malformed or truncated)")
            for (rel,) in bad
        ]
        good = f"select _source_file, _text::json as _doc from _texts where json_valid(_text) and json_type(_text) = '{kind}'"
        if contract.format == "json_array":
            con.execute(f"""
                create or replace temp table {STAGE} as
                with docs as ({good}),
                elems as (
                    select d._source_file, e.n as _source_row, e.el
                    from docs d, unnest(json_extract(d._doc, '$[*]')) with ordinality as e(el, n)
                )
                select _source_file, _source_row,
                       case when json_type(el) <> 'OBJECT' then 'array element is not a JSON object' end as _parse_error,
                       {_select_columns(contract, 'el')}
                from elems
            """)
        else:
            con.execute(f"""
                create or replace temp table {STAGE} as
                with docs as ({good}),
                msgs as (
                    select d._source_file, d._doc, m.msg, m.n as _msg_n
                    from docs d, unnest(json_extract(d._doc, '$.Transcript[*]')) with ordinality as m(msg, n)
                )
                select _source_file, _msg_n as _source_row,
                       case when json_type(msg) <> 'OBJECT' then 'transcript message is not a JSON object' end as _parse_error,
                       {_select_columns(contract, '_doc', 'msg')}
                from msgs
            """)
        return problems
    finally:
        con.unregister("_texts")


def _csv_header(text: str) -> list[str]:
    first = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    return [h.strip() for h in first]


def _read_csv_sql(paths: list[str], header: list[str]) -> str:
    cols = "{" + ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in header) + "}"
    files = "[" + ", ".join(_lit(p) for p in paths) + "]"
    return (
        f"read_csv({files}, header=true, columns={cols}, auto_detect=false, delim=',', quote='\"', "
        f"escape='\"', filename=true, max_line_size={MAX_LINE}, strict_mode=true, null_padding=false)"
    )


def _parse_csv(con: duckdb.DuckDBPyConnection, contract: Contract, texts: list[FileText]) -> list[FileProblem]:
    problems: list[FileProblem] = []
    groups: dict[tuple[str, ...], list[FileText]] = {}
    required = [p.physical_name for p in contract.properties if p.required]
    for t in texts:
        header = _csv_header(t.text or "")
        missing = [c for c in required if c not in header]
        if missing or len(set(header)) != len(header):
            why = f"missing required column(s) {', '.join(missing)}" if missing else "repeated column names"
            problems.append(FileProblem(t.file.rel, f"wrong CSV header: {why} (found: {','.join(header)[:200]})"))
            continue
        groups.setdefault(tuple(header), []).append(t)
    con.execute(f"create or replace temp table {STAGE} as select cast(null as varchar) as _source_file, "
                f"cast(null as bigint) as _source_row, cast(null as varchar) as _parse_error, "
                f"{_null_columns(contract)} limit 0")
    for header, members in groups.items():
        pending = [members]
        while pending:
            group = pending.pop()
            try:
                _load_csv_group(con, contract, list(header), group)
            except duckdb.Error as exc:
                if len(group) == 1:
                    first = str(exc).split("\n")[0][:300]
                    problems.append(FileProblem(group[0].file.rel, f"not a valid CSV file ({first})"))
                else:  # isolate the bad file(s); the good ones still load
                    mid = len(group) // 2
                    pending += [group[:mid], group[mid:]]
    return problems


def _load_csv_group(con: duckdb.DuckDBPyConnection, contract: Contract, header: list[str], group: list[FileText]) -> None:
    rel_of = {str(t.file.path): t.file.rel for t in group}
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


def parse_batch(con: duckdb.DuckDBPyConnection, contract: Contract, texts: list[FileText]) -> list[FileProblem]:
    """Fill the temp table `_stage` (`_source_file`, `_source_row`, `_parse_error`, one text column per
    property) from readable files; return the files that could not be parsed at all."""
    readable = [t for t in texts if t.problem is None]
    problems = [FileProblem(t.file.rel, t.problem) for t in texts if t.problem is not None]
    if not readable:
        con.execute(f"create or replace temp table {STAGE} as select cast(null as varchar) as _source_file, "
                    f"cast(null as bigint) as _source_row, cast(null as varchar) as _parse_error, "
                    f"{_null_columns(contract)} limit 0")
        return problems
    if contract.format == "csv":
        return problems + _parse_csv(con, contract, readable)
    return problems + _parse_json(con, contract, readable)
