"""CSV text split into records by a polars pass over its lines (quote parity), so a file with rows of the wrong
width can still be read record by record: ingest quarantines those rows alone, and the purge and the ingest
scrub rewrite such a file keeping every record they do not change byte for byte, at the positions ingest gave."""

from __future__ import annotations

import io

import polars as pl

CSV_QUOTED = r'"(?:[^"]|"")*"'  # one quoted CSV field, doubled quotes inside
CSV_RECORD = rf'^(?:{CSV_QUOTED}|[^",]*)(?:,(?:{CSV_QUOTED}|[^",]*))*$'  # a record whose quoting is sound


def csv_records(text: str) -> pl.DataFrame | None:
    """A CSV text's records in file order, header first: `raw` (as in the file, a quoted newline kept), `record`
    (without its line ending) and `fields` (its field count). Blank lines are no record, as for read_csv. None
    when the quoting is broken: a quote never closed, or a quote inside an unquoted field."""
    lines = pl.DataFrame({"line": [text]}).select(pl.col("line").str.split("\n")).explode("line")
    lines = lines.with_columns(
        open=pl.col("line").str.count_matches('"', literal=True).cum_sum() % 2 == 1  # a quoted field goes on
    )
    if lines.height == 0 or lines["open"][-1]:
        return None
    records = (
        lines.with_columns(record_no=(~pl.col("open")).cast(pl.UInt32).cum_sum().shift(1, fill_value=0))
        .group_by("record_no", maintain_order=True)
        .agg(raw=pl.col("line").str.join("\n"))
        .with_columns(record=pl.col("raw").str.strip_suffix("\r"))
        .filter(pl.col("record") != "")
    )
    if not records.select(pl.col("record").str.contains(CSV_RECORD).all()).item():
        return None
    return records.select(
        "raw", "record",
        fields=pl.col("record").str.replace_all(CSV_QUOTED, "").str.count_matches(",", literal=True) + 1,
    )


def csv_fields(records: pl.DataFrame) -> pl.DataFrame | None:
    """The data records of `csv_records` (header first) parsed into text columns named by the header row, one row
    per record in order: a short record padded with nulls, a long one cut to the header's width. None when they
    do not parse, or polars splits them into other records than the line pass did (then trust neither)."""
    try:
        frame = pl.read_csv(io.BytesIO("\n".join(records["record"].to_list()).encode()), infer_schema=False,
                            truncate_ragged_lines=True)
    except pl.exceptions.PolarsError:
        return None
    return frame if frame.height == records.height - 1 else None


def csv_field(column: str) -> pl.Expr:
    """A text column as a CSV field: quoted (quotes doubled) when it holds a comma, quote or line break; null as ''."""
    value = pl.col(column).fill_null("")
    quoted = pl.lit('"') + value.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(value.str.contains(r'[",\r\n]')).then(quoted).otherwise(value)
