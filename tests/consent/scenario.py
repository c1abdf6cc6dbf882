"""Named consent scenario: a hand-built raw layer (INTERFACES columns) for one tenant, judged at AS_OF."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import yaml

from lethe.settings import CONTRACTS_DIR

TENANT = "acme-energy"
AS_OF = "2026-06-01T00:00:00"
REFRESH_DAYS = 730

_TYPES = {
    "string": "varchar",
    "timestamp": "timestamp",
    "date": "date",
    "integer": "bigint",
    "boolean": "boolean",
    "array": "varchar[]",
}
_POLARS = {
    "varchar": pl.Utf8,
    "timestamp": pl.Datetime("us"),
    "date": pl.Date,
    "bigint": pl.Int64,
    "boolean": pl.Boolean,
    "varchar[]": pl.List(pl.Utf8),
}

MARKETING = "pur-mkt"
SERVICE = "pur-svc"
PROFILING = "pur-prof"


def contract_columns(dataset: str) -> list[tuple[str, str]]:
    """(column, duckdb type) of a raw table, in contract order, as docs/INTERFACES.md says."""
    doc = yaml.safe_load((CONTRACTS_DIR / f"{dataset}.odcs.yaml").read_text())
    props = doc["schema"][0]["properties"]
    return [(p["name"], _TYPES[p["logicalType"]]) for p in props]


def _contact(cid: str, email: str | None, phone: str | None = None, **flags) -> dict:
    return {
        "id": cid,
        "individual_id": f"ind-{cid}",
        "first_name": cid.split("-")[-1].title(),
        "last_name": "Example",
        "email": email,
        "phone": phone,
        "has_opted_out_of_email": flags.get("email_opt_out", False),
        "do_not_call": flags.get("do_not_call", False),
        "created_date": "2023-01-01 00:00:00",
        "last_modified_date": flags.get("modified", "2024-01-01 00:00:00"),
        "customer_status": "active",
    }


def _individual(cid: str, modified: str = "2024-01-01 00:00:00", **flags) -> dict:
    return {
        "id": f"ind-{cid}",
        "has_opted_out_processing": flags.get("restricted", False),
        "has_opted_out_profiling": flags.get("objects_profiling", False),
        "has_opted_out_solicit": flags.get("no_solicit", False),
        "should_forget": flags.get("forget", False),
        "send_individual_data": False,
        "last_modified_date": modified,
    }


def _consent(
    cid: str,
    n: int = 1,
    *,
    method: str | None = "explicit_opt_in",
    status: str = "OptIn",
    captured: str | None = "2025-09-01 10:00:00",
    notice: str | None = "v3",
    point: str = "Email",
    purpose: str = MARKETING,
    effective_to: str | None = None,
    source: str | None = "web_form",
) -> dict:
    return {
        "id": f"cptc-{cid}-{n}",
        "party_id": f"ind-{cid}",
        "contact_point_type": point,
        "data_use_purpose_id": purpose,
        "privacy_consent_status": status,
        "capture_date": captured,
        "capture_source": source,
        "effective_from": captured,
        "effective_to": effective_to,
        "last_modified_date": captured or "2025-09-01 10:00:00",
        "capture_method": method,
        "notice_version": notice,
    }


def _email(eid: str, email: str, at: str, event: str, campaign: str | None = "cmp-spring", **extra) -> dict:
    return {
        "sg_event_id": eid,
        "email": email,
        "event_at": at,
        "event": event,
        "sg_message_id": extra.get("message", f"msg-{eid}"),
        "categories": ["newsletter"],
        "bounce_type": extra.get("bounce_type"),
        "asm_group_id": extra.get("group"),
        "campaign_id": campaign,
    }


def _call(contact_id: str, phone: str, at: str, method: str = "INBOUND", recording: str | None = None) -> dict:
    return {
        "contact_id": contact_id,
        "channel": "VOICE",
        "initiation_method": method,
        "initiation_timestamp": at,
        "disconnect_timestamp": at,
        "last_update_timestamp": at,
        "customer_address": phone,
        "customer_address_type": "TELEPHONE_NUMBER",
        "agent_username": "agent.one",
        "queue_name": "sales",
        "recording_location": recording,
        "recording_status": "AVAILABLE" if recording else None,
        "attributes": "{}",
    }


def scenario_rows() -> dict[str, list[dict]]:
    """The named subjects, one edge each; see the comments for the outcome each one expects."""
    contacts = [
        _contact("c-alice", "alice@example.com"),  # explicit opt-in: eligible, mailed lawfully
        _contact("c-bob", "bob@example.com"),  # unsubscribed, then mailed 10 days later
        _contact("c-carol", "carol@example.com"),  # pre-ticked box: invalid, mailed anyway
        _contact("c-dave", None, "+447700900001"),  # verbal consent, recording on disk: valid for sms
        _contact("c-erin", None, "+447700900002"),  # verbal consent, recording purged: invalid
        _contact("c-frank", "frank@example.com"),  # no notice version: defective evidence
        _contact("c-grace", "grace@example.com"),  # EffectiveTo in the past: expired
        _contact("c-heidi", "heidi@example.com"),  # captured 800 days before as-of: renewal due
        _contact("c-ivan", None, "+447700900003", do_not_call=True, modified="2025-01-01 00:00:00"),
        _contact("c-judy", "judy@example.com"),  # group unsubscribe then resubscribe: eligible
        _contact("c-mallory", "mallory@example.com", "+447700900004"),  # restricted processing, then called
        _contact("c-niaj", "niaj@example.com"),  # objects to profiling
        _contact("c-olivia", "olivia@example.com"),  # asked to be forgotten
        _contact("c-peggy", "peggy@example.com"),  # hard bounce
        _contact("c-trent", "trent@example.com"),  # withdrew, then consented again
        _contact("c-victor", "not-an-email"),  # consent but no valid address
        _contact("c-walter", "walter@example.com"),  # implied consent: invalid
        _contact("c-yves", "yves@example.com", email_opt_out=True, modified="2026-02-01 00:00:00"),
        # two contacts (two people) sharing one address, which unsubscribed after both consented
        _contact("c-sybil", "shared@example.com"),
        _contact("c-rupert", "shared@example.com"),
    ]
    individuals = [_individual(c["id"]) for c in contacts]
    flags = {
        "c-mallory": {"restricted": True, "modified": "2026-01-01 00:00:00"},
        "c-niaj": {"objects_profiling": True},
        "c-olivia": {"forget": True},
    }
    individuals = [
        _individual(c["id"], **flags[c["id"]]) if c["id"] in flags else ind
        for c, ind in zip(contacts, individuals, strict=True)
    ]
    consents = [
        _consent("c-alice"),
        _consent("c-bob"),
        _consent("c-carol", method="pre_ticked_box"),
        _consent("c-dave", method="verbal_recorded", point="Phone", source="call:ctr-dave-1"),
        _consent("c-erin", method="verbal_recorded", point="Phone", source="call:ctr-erin-1"),
        _consent("c-frank", notice=None),
        _consent("c-grace", effective_to="2026-01-01 00:00:00"),
        _consent("c-heidi", captured="2024-03-23 10:00:00"),
        _consent("c-ivan", point="Phone"),
        _consent("c-judy"),
        _consent("c-mallory"),
        _consent("c-niaj"),
        _consent("c-olivia"),
        _consent("c-peggy"),
        _consent("c-trent", 1, status="OptOut", captured="2025-01-10 09:00:00"),
        _consent("c-trent", 2, captured="2025-06-10 09:00:00"),
        _consent("c-victor"),
        _consent("c-walter", method="implied"),
        _consent("c-yves"),
        _consent("c-alice", 2, purpose=SERVICE, point="Phone"),
        _consent("c-alice", 3, purpose=PROFILING),
        _consent("c-niaj", 2, purpose=PROFILING),  # consented to personalised offers, but objects to profiling
        _consent("c-sybil"),
        _consent("c-rupert"),
    ]
    purposes = [
        {"id": MARKETING, "name": "Marketing", "description": "Offers and newsletters"},
        {"id": SERVICE, "name": "Service updates", "description": "Outages and billing notices"},
        {"id": PROFILING, "name": "Profiling", "description": "Personalised offers based on usage"},
    ]
    campaigns = [
        {"campaign_id": "cmp-spring", "name": "Spring offers", "channel": "email", "purpose": "Marketing",
         "started_at": "2026-03-01 00:00:00"},
        {"campaign_id": "cmp-outage", "name": "Outage notice", "channel": "email", "purpose": "Service updates",
         "started_at": "2026-03-01 00:00:00"},
        {"campaign_id": "cmp-recs", "name": "Recommended for you", "channel": "email", "purpose": "Profiling",
         "started_at": "2026-03-01 00:00:00"},
    ]
    email_events = [
        _email("e-alice-1", "alice@example.com", "2026-05-01 09:00:00", "processed"),
        _email("e-alice-2", "alice@example.com", "2026-05-01 09:00:05", "delivered", message="msg-e-alice-1"),
        _email("e-bob-1", "bob@example.com", "2026-03-01 12:00:00", "unsubscribe", campaign=None),
        _email("e-bob-2", "bob@example.com", "2026-03-11 12:00:00", "processed"),
        _email("e-carol-1", "carol@example.com", "2026-05-01 09:00:00", "delivered"),
        _email("e-judy-1", "judy@example.com", "2026-01-10 10:00:00", "group_unsubscribe", campaign=None, group=7),
        _email("e-judy-2", "judy@example.com", "2026-02-10 10:00:00", "group_resubscribe", campaign=None, group=7),
        _email("e-peggy-1", "peggy@example.com", "2026-04-01 10:00:00", "bounce", bounce_type="bounce"),
        _email("e-carol-2", "carol@example.com", "2026-05-02 09:00:00", "processed", campaign="cmp-outage"),
        _email("e-alice-3", "alice@example.com", "2026-04-01 09:00:00", "processed", campaign="cmp-recs"),
        _email("e-niaj-1", "niaj@example.com", "2026-04-01 09:00:00", "processed", campaign="cmp-recs"),
        _email("e-shared-1", "shared@example.com", "2026-04-15 09:00:00", "unsubscribe", campaign=None),
    ]
    contact_records = [
        _call("ctr-dave-1", "+447700900001", "2025-09-01 10:00:00", recording="recordings/2025/ctr-dave-1.wav"),
        _call("ctr-erin-1", "+447700900002", "2025-09-01 10:00:00", recording="recordings/2025/ctr-erin-1.wav"),
        _call("ctr-ivan-1", "+447700900003", "2026-04-01 10:00:00", method="OUTBOUND"),
        _call("ctr-mallory-1", "+447700900004", "2026-03-01 10:00:00", method="INBOUND"),
    ]
    recordings = [
        {"recording_path": "recordings/2025/ctr-dave-1.wav", "size_bytes": 44, "content_sha256": "00"},
    ]
    return {
        "crm_contacts": contacts,
        "crm_individuals": individuals,
        "crm_consents": consents,
        "crm_purposes": purposes,
        "campaigns": campaigns,
        "email_events": email_events,
        "contact_records": contact_records,
        "recordings": recordings,
    }


ALL_DATASETS = [p.name.removesuffix(".odcs.yaml") for p in sorted(CONTRACTS_DIR.glob("*.odcs.yaml"))]


def write_raw(warehouse: Path, rows: dict[str, list[dict]], tenant: str = TENANT) -> None:
    """Create every raw.* table (INTERFACES columns) in `warehouse` and load the scenario rows."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create schema if not exists raw")
        con.execute("create schema if not exists lethe_meta")
        for dataset in ALL_DATASETS:
            cols = contract_columns(dataset)
            if dataset not in ("agents", "breaches"):
                cols = [*cols, ("tenant_id", "varchar")]
            meta = [("_source_file", "varchar"), ("_source_row", "bigint"), ("_batch_id", "varchar"),
                    ("_loaded_at", "timestamp")]
            ddl = ", ".join(f"{name} {typ}" for name, typ in cols + meta)
            con.execute(f"create or replace table raw.{dataset} ({ddl})")
            records = rows.get(dataset, [])
            if not records:
                continue
            schema = {name: _POLARS[typ] for name, typ in cols}
            frame = pl.DataFrame(
                [{name: r.get(name) for name, _ in cols} | {"tenant_id": tenant} for r in records],
                schema={name: (pl.Utf8 if typ in ("timestamp", "date") else schema[name]) for name, typ in cols},
            ).with_columns(
                [pl.col(n).str.to_datetime("%Y-%m-%d %H:%M:%S") for n, t in cols if t == "timestamp"]
                + [pl.col(n).str.to_date("%Y-%m-%d") for n, t in cols if t == "date"]
            )
            names = ", ".join(name for name, _ in cols)
            con.register("incoming", frame.to_arrow())
            con.execute(
                f"insert into raw.{dataset} ({names}, _source_file, _source_row, _batch_id, _loaded_at) "
                f"select {names}, 'scenario', 1, 'b1', timestamp '2026-06-01' from incoming"
            )
            con.unregister("incoming")
    finally:
        con.close()
