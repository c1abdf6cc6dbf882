"""Erased Amazon Connect ContactIds are tombstoned: a transcript, contact record or recording re-delivered in a new
file after the erasure is dropped at ingest, although it carries no email, phone or CRM id."""

from __future__ import annotations

import json

import duckdb
from purge_scenario import ERIN, TENANT, WAV, WENDY, _ctr, _transcript, days_ago, ingest, iso

from lethe.keys import keyed_hash
from lethe.purge import run_purge
from lethe.settings import Settings


def _count(settings: Settings, sql: str, params: list | None = None) -> int:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchone()[0]
    finally:
        con.close()


def test_interactions_redelivered_after_erasure_do_not_come_back(scenario: Settings) -> None:
    run_purge(scenario, dry_run=False)  # the scenario's mart names Erin's erasure request
    for cid in ("ctr-erin-1", "ctr-erin-2"):
        hashed = keyed_hash(scenario.secret_key, TENANT, "connect_contact", cid)
        assert _count(scenario, "select count(*) from lethe_meta.tombstones where kind = 'connect_contact' "
                                "and identity_hash = ?", [hashed]) == 1
    assert _count(scenario, "select count(*) from lethe_meta.tombstones where identity_hash like '%ctr-erin%'") == 0

    t = scenario.landing / TENANT
    (t / "transcripts" / "late").mkdir(parents=True)
    (t / "transcripts" / "late" / "resent.json").write_text(json.dumps(_transcript("ctr-erin-2", ERIN, days_ago(15))))
    (t / "transcripts" / "late" / "wendy.json").write_text(json.dumps(_transcript("ctr-wendy-9", WENDY, days_ago(4))))
    # a later update of the record, without the customer's address (so only the ContactId can match)
    update = _ctr("ctr-erin-1", ERIN, days_ago(20), "recordings/late/ctr-erin-1.wav")
    update.pop("CustomerEndpoint")
    update["LastUpdateTimestamp"] = iso(days_ago(20, 23))
    (t / "contact_records" / "late").mkdir(parents=True)
    (t / "contact_records" / "late" / "resent.jsonl").write_text(json.dumps(update) + "\n")
    (t / "recordings" / "late").mkdir(parents=True)
    (t / "recordings" / "late" / "ctr-erin-1.wav").write_bytes(WAV)
    (t / "recordings" / "late" / "ctr-wendy-9.wav").write_bytes(WAV)
    ingest(scenario)

    assert _count(scenario, "select count(*) from raw.transcripts where contact_id = 'ctr-erin-2'") == 0
    assert _count(scenario, "select count(*) from raw.contact_records where contact_id like 'ctr-erin-%'") == 0
    assert _count(scenario, "select count(*) from raw.recordings where recording_path like '%ctr-erin-%'") == 0
    # someone else's interactions in the same delivery load as usual
    assert _count(scenario, "select count(*) from raw.transcripts where contact_id = 'ctr-wendy-9'") > 0
    assert _count(scenario, "select count(*) from raw.recordings where recording_path = 'recordings/late/ctr-wendy-9.wav'") == 1
