"""A generated raw layer of many subjects for the risk model tests (until `lethe generate` lands).

Every subject is mailed each Monday for 26 weeks and opens with a personal rate. Withdrawers (a third)
drift into fatigue over the six weeks before they unsubscribe: falling opens and complaint calls. Some
loyal subjects are simply quiet readers, so days-since-last-open alone is an imperfect signal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from rawlayer import write_raw

TENANT = "acme-energy"
AS_OF = "2026-06-01T00:00:00"
START = datetime(2025, 12, 1, 9, 0)
WEEKS = 26
MARKETING = "pur-mkt"


def _frames(n: int, seed: int) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"c-{i:05d}" for i in range(n)])
    emails = np.array([f"s{i:05d}@example.com" for i in range(n)])
    base = np.clip(rng.beta(2, 2, n), 0.05, 0.95)
    withdraws = rng.random(n) < 1 / 3
    withdraw_week = np.where(withdraws, rng.integers(8, WEEKS + 4, n), 10_000)  # some withdraw after as-of
    objects = rng.random(n) < 0.05
    week = np.arange(WEEKS)
    weeks_left = withdraw_week[:, None] - week[None, :]  # weeks until withdrawal
    fatigue = np.clip(weeks_left / 6.0, 0.15, 1.0)  # 1 until six weeks before, then down to 0.15
    mailed = weeks_left > 0
    opened = mailed & (rng.random((n, WEEKS)) < base[:, None] * fatigue)
    called = mailed & (weeks_left <= 4) & (rng.random((n, WEEKS)) < 0.25)
    subj, wk = np.nonzero(mailed)
    send_at = [START + timedelta(days=7 * int(w)) for w in wk]
    sends = pl.DataFrame({"i": subj, "at": send_at, "w": wk})
    opens = sends.filter(pl.Series(opened[subj, wk]))
    sends_rows = pl.concat(
        [
            sends.with_columns(pl.lit("delivered").alias("event"), pl.col("at") + timedelta(seconds=5)),
            opens.with_columns(pl.lit("open").alias("event"), pl.col("at") + timedelta(hours=3)),
        ]
    )
    unsub = np.nonzero(withdraws & (withdraw_week < WEEKS))[0]
    unsub_rows = pl.DataFrame(
        {"i": unsub, "at": [START + timedelta(days=7 * int(withdraw_week[i]) - 2) for i in unsub], "w": -1},
        schema_overrides={"w": pl.Int64},
    ).with_columns(pl.lit("unsubscribe").alias("event"))
    events = pl.concat([sends_rows.with_columns(pl.col("w").cast(pl.Int64)), unsub_rows], how="vertical_relaxed")
    email_events = events.with_row_index("n").select(
        pl.lit(TENANT).alias("tenant_id"),
        pl.format("e-{}", pl.col("n")).alias("sg_event_id"),
        pl.col("i").map_elements(lambda i: emails[i], return_dtype=pl.Utf8).alias("email"),
        pl.col("at").alias("event_at"),
        pl.col("event"),
        pl.format("m-{}-{}", pl.col("i"), pl.col("w")).alias("sg_message_id"),
    )
    csubj, cwk = np.nonzero(called)
    contact_records = pl.DataFrame(
        {
            "tenant_id": TENANT,
            "contact_id": [f"ctr-{i}-{w}" for i, w in zip(csubj, cwk, strict=True)],
            "channel": "VOICE",
            "initiation_method": "INBOUND",
            "initiation_timestamp": [START + timedelta(days=7 * int(w) + 2) for w in cwk],
            "last_update_timestamp": [START + timedelta(days=7 * int(w) + 2) for w in cwk],
            "customer_address": emails[csubj],
            "customer_address_type": "EMAIL_ADDRESS",
            "queue_name": "Complaints",
        }
    )
    contacts = pl.DataFrame(
        {
            "tenant_id": TENANT, "id": ids, "individual_id": [f"ind-{c}" for c in ids], "email": emails,
            "has_opted_out_of_email": False, "do_not_call": False, "customer_status": "active",
            "created_date": datetime(2025, 1, 1), "last_modified_date": datetime(2025, 6, 1),
        }
    )
    individuals = pl.DataFrame(
        {
            "tenant_id": TENANT, "id": [f"ind-{c}" for c in ids], "has_opted_out_processing": False,
            "has_opted_out_profiling": objects, "has_opted_out_solicit": False, "should_forget": False,
            "send_individual_data": False, "last_modified_date": datetime(2025, 6, 1),
        }
    )
    consents = pl.DataFrame(
        {
            "tenant_id": TENANT, "id": [f"cptc-{c}" for c in ids], "party_id": [f"ind-{c}" for c in ids],
            "contact_point_type": "Email", "data_use_purpose_id": MARKETING, "privacy_consent_status": "OptIn",
            "capture_date": datetime(2025, 6, 1), "effective_from": datetime(2025, 6, 1),
            "last_modified_date": datetime(2025, 6, 1), "capture_method": "explicit_opt_in", "notice_version": "v3",
        }
    )
    purposes = pl.DataFrame({"tenant_id": [TENANT], "id": [MARKETING], "name": ["Marketing"], "description": ["Offers"]})
    return {
        "email_events": email_events, "contact_records": contact_records, "crm_contacts": contacts,
        "crm_individuals": individuals, "crm_consents": consents, "crm_purposes": purposes,
    }


def write_population(warehouse: Path, n: int = 1500, seed: int = 7) -> list[str]:
    """Create every raw.* table and fill the risk tables with `n` generated subjects; the objectors' Contact Ids."""
    write_raw(warehouse, {})
    frames = _frames(n, seed)
    con = duckdb.connect(str(warehouse))
    try:
        for dataset, frame in frames.items():
            con.register("frame", frame.to_arrow())
            con.execute(f"insert into raw.{dataset} by name select * from frame")
            con.unregister("frame")
    finally:
        con.close()
    objectors = frames["crm_individuals"].filter(pl.col("has_opted_out_profiling")).get_column("id")
    return [i.removeprefix("ind-") for i in objectors]
