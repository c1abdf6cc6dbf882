"""Time what ingest spends keeping CRM contacts' previous addresses (lethe_meta.crm_contact_previous_addresses):
the CRM family of a generated landing zone ingested into a fresh home, then a full re-export of every tenant's
contacts, one in ten with a new email, ingested on top. Prints JSON: each ingest's wall time and the time of the
previous-address capture within it, and how many addresses were kept. Works on a copy of the CRM folders.

    .venv/bin/python scripts/bench_crm_reexport.py --landing DIR --work DIR   (DIR = lethe generate --subjects N)
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import duckdb
import polars as pl

import lethe.ingest.load as load
from lethe.ingest import run_ingest
from lethe.settings import load_settings

AS_OF = "2026-11-01T00:00:00Z"


def _copy_crm(landing: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    shutil.copy2(landing / "tenants.yml", dest / "tenants.yml")
    for crm in sorted(landing.glob("*/crm")):
        if not crm.parent.name.startswith("_"):
            shutil.copytree(crm, dest / crm.parent.name / "crm")


def _reexport(landing: Path) -> int:
    """Write each tenant's contacts again in one file, every tenth row with a new email, modified later."""
    rows = 0
    for tenant in sorted(p for p in landing.iterdir() if p.is_dir()):
        files = sorted((tenant / "crm" / "contacts").rglob("*.csv"))
        frame = pl.concat([pl.read_csv(f, infer_schema=False) for f in files], how="vertical_relaxed")
        frame = (frame.with_row_index("_i")
                 .with_columns(pl.when(pl.col("_i") % 10 == 0)
                               .then(pl.format("changed{}@example.org", pl.col("_i")))
                               .otherwise(pl.col("Email")).alias("Email"),
                               pl.lit("2026-10-31T12:00:00.000Z").alias("LastModifiedDate"))
                 .drop("_i"))
        out = tenant / "crm" / "contacts" / "2026" / "10" / "Contact_reexport_2026-10-31.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.write_csv(out)
        rows += frame.height
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    if args.work.exists():
        shutil.rmtree(args.work)
    landing = args.work / "landing"
    _copy_crm(args.landing, landing)
    settings = load_settings({"LETHE_HOME": str(args.work / "home"), "LETHE_LANDING": str(landing),
                              "LETHE_TENANTS": str(landing / "tenants.yml"), "LETHE_AS_OF": AS_OF,
                              "LETHE_SECRET_KEY": "bench-secret"})
    spent = [0.0]
    capture = load._keep_previous_addresses

    def timed(*a: object, **k: object) -> None:
        start = time.perf_counter()
        capture(*a, **k)  # type: ignore[arg-type]
        spent[0] += time.perf_counter() - start

    load._keep_previous_addresses = timed  # type: ignore[assignment]
    result: dict[str, object] = {"command": "scripts/bench_crm_reexport.py --landing L --work W"}
    for stage in ("first", "reexport"):
        if stage == "reexport":
            result["contacts_reexported"] = _reexport(landing)
        spent[0] = 0.0
        start = time.perf_counter()
        run_ingest(settings, landing=landing, families=["crm"])
        result[f"{stage}_crm_ingest_s"] = round(time.perf_counter() - start, 2)
        result[f"{stage}_capture_s"] = round(spent[0], 3)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        result["previous_addresses"] = con.execute(
            "select count(*) from lethe_meta.crm_contact_previous_addresses").fetchone()[0]
    finally:
        con.close()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
