"""Spill generated rows to parquet per chunk, then write each landing file once, in order.

Rows of one landing file come from many subject chunks; the spool keeps memory bounded by holding
only one partition (a month of one family for one tenant) at a time when it writes files.
"""

from __future__ import annotations

import gzip
import io
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl

log = logging.getLogger(__name__)

BOM = "\ufeff"


@dataclass(frozen=True)
class Family:
    """How one source family's files are rendered: jsonl lines, a JSON array, or CSV columns."""

    name: str
    kind: str  # "jsonl" | "json_array" | "csv"
    columns: tuple[str, ...] = ()


def write_bytes(path: Path, data: bytes) -> None:
    """Write a file, gzip-compressed (deterministically: no name, mtime 0) if it ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
            gz.write(data)
        data = buf.getvalue()
    path.write_bytes(data)


class Spool:
    """Collects rows per (family, tenant, partition) on disk; `flush` writes the landing files."""

    def __init__(self, root: Path, out: Path) -> None:
        self.root = root
        self.out = out
        self._seq = Counter[tuple[str, str]]()
        self.records: Counter[tuple[str, str]] = Counter()
        self.files: Counter[tuple[str, str]] = Counter()

    def add(self, family: Family, tenant: str, df: pl.DataFrame) -> None:
        """Spill rows with columns `_file` (path under the tenant folder), `_part`, `_sort` and the payload."""
        if df.height == 0:
            return
        key = (family.name, tenant)
        self._seq[key] += 1
        for (part,), chunk in df.partition_by("_part", as_dict=True, maintain_order=True).items():
            target = self.root / family.name / tenant / str(part)
            target.mkdir(parents=True, exist_ok=True)
            chunk.drop("_part").write_parquet(target / f"{self._seq[key]:06d}.parquet", compression="lz4")

    def count_direct(self, family: str, tenant: str, records: int, files: int) -> None:
        """Account for files written directly (one record per file: transcripts, recordings)."""
        self.records[(family, tenant)] += records
        self.files[(family, tenant)] += files

    def flush(self, family: Family, tenant: str, base: Path) -> None:
        """Write every spilled file of one family and tenant under `base`, partition by partition."""
        fam_dir = self.root / family.name / tenant
        if not fam_dir.exists():
            return
        for part_dir in sorted(p for p in fam_dir.iterdir() if p.is_dir()):
            df = pl.concat([pl.read_parquet(f) for f in sorted(part_dir.glob("*.parquet"))], how="vertical")
            df = df.sort(["_file", "_sort"], maintain_order=True)
            for (name,), rows in df.partition_by("_file", as_dict=True, maintain_order=True).items():
                self._write(family, base / str(name), rows)
                self.records[(family.name, tenant)] += rows.height
                self.files[(family.name, tenant)] += 1
            for f in part_dir.glob("*.parquet"):
                f.unlink()

    def _write(self, family: Family, path: Path, rows: pl.DataFrame) -> None:
        if family.kind == "jsonl":
            text = "\n".join(rows["_line"].to_list()) + "\n"
        elif family.kind == "json_array":
            text = "[" + ",\n".join(rows["_line"].to_list()) + "]\n"
        else:
            bom = rows["_bom"][0] if "_bom" in rows.columns else False
            text = (BOM if bom else "") + rows.select(family.columns).write_csv(
                line_terminator="\r\n", quote_style="necessary"
            )
        write_bytes(path, text.encode("utf-8"))
