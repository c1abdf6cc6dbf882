"""Named purge scenario: a hand-written landing zone for one tenant, judged at AS_OF.

- Rita: a call whose recording is 91 days old under a 90-day policy (audio and Recording.Location go,
  the contact record stays), and a recent recorded call that stays whole.
- Hank: asked to be erased, but is under an open legal hold: nothing of his goes.
- Erin: asked to be erased (DSR CSV, verified): everything goes, everywhere; one of her email events
  was quarantined (bad event type), so the quarantine copy goes too.
- Wendy: withdrew (unsubscribe), then was mailed: recent data, nothing of hers is due.
- Twelve fillers, so that no guard trips on a tiny table.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from lethe.settings import Settings, load_settings

TENANT = "acme-energy"
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
WAV = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00@\x1f\x00\x00\x80>\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"

ERIN = {"id": "003ERIN", "ind": "0PKERIN", "first": "Erin", "last": "Zebrowski", "email": "erin.zebrowski@example.com",
        "phone": "+447700900103", "human_phone": "07700 900103"}
HANK = {"id": "003HANK", "ind": "0PKHANK", "first": "Hank", "last": "Holloway", "email": "hank.holloway@example.com",
        "phone": "+447700900102", "human_phone": "07700 900102"}
RITA = {"id": "003RITA", "ind": "0PKRITA", "first": "Rita", "last": "Recordsworth", "email": "rita@example.com",
        "phone": "+447700900101", "human_phone": "+44 7700 900101"}
WENDY = {"id": "003WENDY", "ind": "0PKWENDY", "first": "Wendy", "last": "Withdrew", "email": "wendy@example.com",
         "phone": "+447700900104", "human_phone": "07700900104"}
FILLERS = [
    {"id": f"003F{i:02d}", "ind": f"0PKF{i:02d}", "first": f"Filler{i}", "last": "Person", "email": f"filler{i}@example.com",
     "phone": f"+4477009002{i:02d}", "human_phone": f"07700 9002{i:02d}"}
    for i in range(12)
]
PEOPLE = [ERIN, HANK, RITA, WENDY, *FILLERS]

POLICY = f"""tenants:
  {TENANT}:
    controller: ACME Energy Ltd
    dsr_sla_days: 30
    purge_max_share: 0.25
    retention:
      interaction.recording: 90
      interaction.transcript: 180
      interaction.metadata: 730
      campaign.event: 395
      crm.contact: 1095
"""


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def days_ago(n: int, hour: int = 10) -> datetime:
    return (AS_OF - timedelta(days=n)).replace(hour=hour)


def _ctr(cid: str, person: dict, ended: datetime, recording: str | None, channel: str = "VOICE") -> dict:
    address, kind = (person["human_phone"], "TELEPHONE_NUMBER") if channel == "VOICE" else (person["email"], "EMAIL_ADDRESS")
    record = {
        "ContactId": cid,
        "Channel": channel,
        "InitiationMethod": "INBOUND",
        "InitiationTimestamp": iso(ended - timedelta(minutes=5)),
        "DisconnectTimestamp": iso(ended),
        "LastUpdateTimestamp": iso(ended + timedelta(minutes=1)),
        "CustomerEndpoint": {"Address": address, "Type": kind},
        "Agent": {"Username": "agent.jones"},
        "Queue": {"Name": "Billing"},
        "Attributes": {"caller": f"{person['first']} {person['last']}"},
    }
    if recording:
        record["Recording"] = {"Location": recording, "Status": "AVAILABLE"}
    return record


def _transcript(cid: str, person: dict, at: datetime) -> dict:
    return {
        "ContactId": cid,
        "Transcript": [
            {"ParticipantRole": "AGENT", "Content": "Hello, how can I help?", "AbsoluteTime": iso(at)},
            {"ParticipantRole": "CUSTOMER",
             "Content": f"I'm {person['first']} {person['last']}, my number is {person['human_phone']}",
             "AbsoluteTime": iso(at + timedelta(seconds=30))},
            {"ParticipantRole": "AGENT", "Content": "Thanks, sorted.", "AbsoluteTime": iso(at + timedelta(seconds=60))},
        ],
    }


def _event(eid: str, email: str, at: datetime, event: str, campaign: str = "camp-1") -> dict:
    return {"email": email, "timestamp": int(at.timestamp()), "event": event, "sg_event_id": eid,
            "sg_message_id": f"msg-{eid}", "category": ["newsletter"], "campaign_id": campaign}


def _csv(path: Path, header: list[str], rows: list[list[str]], gz: bool = False, bom: bool = False) -> None:
    def cell(v: str) -> str:
        return f'"{v}"' if ("," in v or "\n" in v) else v

    text = ",".join(header) + "\n" + "".join(",".join(cell(v) for v in r) + "\n" for r in rows)
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)


def write_landing(root: Path) -> Path:
    """Write the scenario's landing zone under root/<tenant>; return root."""
    t = root / TENANT
    ctr_old, ctr_new = [], []
    rec = t / "recordings" / "2026"
    rec.mkdir(parents=True)
    for name in ("ctr-rita-1.wav", "ctr-rita-2.wav", "ctr-hank-1.wav", "ctr-erin-1.wav"):
        (rec / name).write_bytes(WAV)
    ctr_old.append(_ctr("ctr-rita-1", RITA, days_ago(91), "recordings/2026/ctr-rita-1.wav"))
    ctr_new.append(_ctr("ctr-rita-2", RITA, days_ago(10), "recordings/2026/ctr-rita-2.wav"))
    ctr_old.append(_ctr("ctr-hank-1", HANK, days_ago(150), "recordings/2026/ctr-hank-1.wav"))
    ctr_new.append(_ctr("ctr-erin-1", ERIN, days_ago(20), "recordings/2026/ctr-erin-1.wav"))
    ctr_new.append(_ctr("ctr-erin-2", ERIN, days_ago(15), None, channel="CHAT"))
    ctr_new.append(_ctr("ctr-wendy-1", WENDY, days_ago(30), None))
    for i, f in enumerate(FILLERS):
        ctr_new.append(_ctr(f"ctr-f{i:02d}", f, days_ago(5 + i), None, channel="CHAT"))
    (t / "contact_records" / "2026" / "02").mkdir(parents=True)
    (t / "contact_records" / "2026" / "05").mkdir(parents=True)
    (t / "contact_records" / "2026" / "02" / "ctr-old.jsonl").write_text("\n".join(json.dumps(r) for r in ctr_old) + "\n")
    # Erin's redelivered record lands in a gzip file too (at-least-once delivery)
    (t / "contact_records" / "2026" / "05" / "ctr-new.jsonl.gz").write_bytes(
        gzip.compress(("\n".join(json.dumps(r) for r in ctr_new) + "\n").encode(), mtime=0)
    )
    trans = t / "transcripts"
    trans.mkdir(parents=True)
    (trans / "ctr-erin-2.json").write_text(json.dumps(_transcript("ctr-erin-2", ERIN, days_ago(15))))
    for i, f in enumerate(FILLERS):
        (trans / f"ctr-f{i:02d}.json").write_text(json.dumps(_transcript(f"ctr-f{i:02d}", f, days_ago(5 + i))))
    events = [
        _event("ev-erin-1", ERIN["email"], days_ago(40), "processed"),
        _event("ev-erin-2", ERIN["email"], days_ago(40, 11), "open"),
        _event("ev-erin-bad", ERIN["email"], days_ago(40, 12), "exploded"),  # quarantined: unknown event
        _event("ev-wendy-1", WENDY["email"], days_ago(60), "unsubscribe"),
        _event("ev-wendy-2", WENDY["email"], days_ago(50), "processed"),
        _event("ev-wendy-3", WENDY["email"], days_ago(50, 11), "delivered"),
    ]
    for i, f in enumerate(FILLERS):
        events += [_event(f"ev-f{i:02d}-1", f["email"], days_ago(30 + i), "processed"),
                   _event(f"ev-f{i:02d}-2", f["email"], days_ago(30 + i, 11), "open")]
    (t / "email_events").mkdir(parents=True)
    (t / "email_events" / "events.json").write_text(json.dumps(events, indent=1))
    crm = t / "crm"
    _csv(crm / "contacts" / "contacts.csv",
         ["Id", "IndividualId", "FirstName", "LastName", "Email", "Phone", "MobilePhone", "MailingStreet", "MailingCity",
          "MailingPostalCode", "MailingCountry", "Birthdate", "HasOptedOutOfEmail", "DoNotCall", "CreatedDate",
          "LastModifiedDate", "LastActivityDate", "Customer_Status__c", "Contract_End_Date__c"],
         [[p["id"], p["ind"], p["first"], p["last"], p["email"], p["human_phone"], "", "1 High St", "London", "SW1A 1AA",
           "United Kingdom", "1980-05-17", "false", "false", "2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-04-01",
           "active", ""] for p in PEOPLE], bom=True)
    _csv(crm / "individuals" / "individuals.csv",
         ["Id", "HasOptedOutProcessing", "HasOptedOutProfiling", "HasOptedOutSolicit", "ShouldForget",
          "SendIndividualData", "LastModifiedDate"],
         [[p["ind"], "false", "false", "false", "false", "false", "2026-01-01T00:00:00Z"] for p in PEOPLE])
    _csv(crm / "consents" / "consents.csv.gz",
         ["Id", "PartyId", "ContactPointType", "DataUsePurposeId", "PrivacyConsentStatus", "CaptureDate", "CaptureSource",
          "DoubleConsentCaptureDate", "EffectiveFrom", "EffectiveTo", "LastModifiedDate", "Capture_Method__c",
          "Notice_Version__c"],
         [[f"0ZW{p['id'][3:]}", p["ind"], "Email", "0ZVMKT", "OptIn", "2025-09-01T00:00:00Z", "web form", "",
           "2025-09-01T00:00:00Z", "", "2025-09-01T00:00:00Z", "explicit_opt_in", "v3"] for p in PEOPLE], gz=True)
    _csv(crm / "purposes" / "purposes.csv", ["Id", "Name", "Description"], [["0ZVMKT", "Marketing", "Direct marketing"]])
    _csv(crm / "dsr_requests" / "dsr.csv",
         ["request_id", "received_at", "type", "crm_contact_id", "subject_email", "subject_phone", "verified_at", "details"],
         [["dsr-erin", iso(days_ago(3)), "erasure", ERIN["id"], ERIN["email"], ERIN["human_phone"], iso(days_ago(2)),
           f"Please erase everything about {ERIN['first']} {ERIN['last']}"],
          ["dsr-hank", iso(days_ago(3)), "erasure", HANK["id"], HANK["email"], "", iso(days_ago(2)), "erase me"]])
    _csv(crm / "legal_holds" / "holds.csv", ["hold_id", "crm_contact_id", "subject_email", "reason", "start_date", "end_date"],
         [["hold-hank", HANK["id"], HANK["email"], "Billing dispute claim", "2026-01-01", ""]])
    return root


def make_settings(tmp: Path) -> Settings:
    """Settings for a throwaway home with the scenario's policy file."""
    policy = tmp / "tenants.yml"
    policy.write_text(POLICY)
    return load_settings({
        "LETHE_HOME": str(tmp / "home"),
        "LETHE_LANDING": str(tmp / "landing"),
        "LETHE_TENANTS": str(policy),
        "LETHE_AS_OF": iso(AS_OF),
        "LETHE_SECRET_KEY": "scenario-secret",
    })


def ingest(settings: Settings) -> None:
    from lethe.ingest import run_ingest

    run_ingest(settings, landing=settings.landing)


def hand_mart(settings: Settings) -> None:
    """marts.retention_due as docs/INTERFACES.md defines it, with what dbt would list for this scenario
    (used where a test does not need the real dbt build): Rita's old recording, and Erin's erasure."""
    from lethe.keys import keyed_hash

    key = settings.secret_key
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.retention_due (tenant_id varchar, data_category varchar, reason varchar, "
            "action varchar, source_table varchar, record_id varchar, subject_key varchar, anchor_at timestamp, "
            "due_at timestamp, days_past_due integer)"
        )
        rita = keyed_hash(key, TENANT, "contact", RITA["id"])
        erin = keyed_hash(key, TENANT, "contact", ERIN["id"])
        old = days_ago(91).replace(tzinfo=None)
        rows = [
            (TENANT, "interaction.recording", "retention_expired", "delete", "recordings", "ctr-rita-1", rita, old,
             old + timedelta(days=90), 1),
            (TENANT, "crm.contact", "erasure_request", "delete", "crm_contacts", ERIN["id"], erin, old, old, 3),
            (TENANT, "interaction.metadata", "erasure_request", "delete", "contact_records", "ctr-erin-1", erin, old,
             old, 3),
        ]
        con.executemany("insert into marts.retention_due values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    finally:
        con.close()


def build_home(tmp: Path) -> Settings:
    """Landing written, ingested, and the due mart in place (hand-built)."""
    settings = make_settings(tmp)
    write_landing(settings.landing)
    ingest(settings)
    hand_mart(settings)
    return settings


def grep_home(root: Path, needles: list[str], *, case_sensitive: bool = False) -> list[str]:
    """Files under root whose bytes (gzip decompressed too) contain any needle, case-insensitively unless asked
    (Salesforce Ids differ by case alone)."""
    found = []
    lowered = [(n if case_sensitive else n.lower()).encode() for n in needles]
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".gz":
            with contextlib.suppress(OSError, EOFError, zlib.error):  # a corrupt one is grepped as it is
                data += gzip.decompress(data)
        low = data if case_sensitive else data.lower()
        hits = [n.decode() for n in lowered if n in low]
        if hits:
            found.append(f"{path.relative_to(root)}: {', '.join(hits)}")
    return found


_BASE: dict[str, Path] = {}


def base(factory) -> Path:
    """The scenario landed and ingested once per test session (ingest is slow); tests copy it."""
    if "path" not in _BASE:
        root = factory.mktemp("purge-scenario-base")
        build_home(root)
        _BASE["path"] = root
    return _BASE["path"]


def copy_home(base_dir: Path, dest: Path) -> Settings:
    """A private copy of the ingested scenario (home, landing, policy) for one test."""
    import shutil

    shutil.copytree(base_dir, dest, dirs_exist_ok=True)
    return make_settings(dest)


def landing_digest(settings: Settings) -> dict[str, str]:
    """sha256 of every landing file, by relative path."""
    import hashlib

    return {
        str(p.relative_to(settings.landing)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(settings.landing.rglob("*"))
        if p.is_file()
    }


def query_rows(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """The rows of one query on the warehouse (read-only)."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def table_counts(settings: Settings) -> dict[str, int]:
    """Row count of every raw, quarantine and tombstone table."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('raw', 'quarantine') or table_name = 'tombstones' order by 1"
        ).fetchall()]
        return {n: con.execute(f"select count(*) from {n}").fetchone()[0] for n in names}
    finally:
        con.close()
