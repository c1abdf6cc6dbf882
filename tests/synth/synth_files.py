"""Readers for generated landing files (gzip, BOM) shared by the synth tests."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

TENANTS = ("acme-energy", "borealis-telecom", "cobalt-insurance")


def read_text(path: Path) -> str:
    """A landing file's text: gunzipped if `.gz`, BOM kept (callers check for it)."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8")


def files(root: Path, pattern: str) -> list[Path]:
    """Files under `root` matching `pattern` or its `.gz` variant, in name order."""
    return sorted([*root.glob(pattern), *root.glob(pattern + ".gz")])


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a CSV, BOM stripped."""
    reader = csv.DictReader(io.StringIO(read_text(path).removeprefix("\ufeff"), newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def ctr_records(tenant_dir: Path) -> list[tuple[Path, dict]]:
    """Every contact record with the file it came from."""
    return [(f, json.loads(line)) for f in files(tenant_dir, "contact_records/**/*.jsonl")
            for line in read_text(f).splitlines() if line]


def email_events(tenant_dir: Path) -> list[tuple[Path, dict]]:
    """Every webhook event with the file it came from."""
    return [(f, e) for f in files(tenant_dir, "email_events/**/*.json") for e in json.loads(read_text(f))]
