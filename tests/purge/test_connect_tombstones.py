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


def test_redelivered_files_are_scrubbed_of_erased_subjects_on_disk(scenario: Settings) -> None:
    """After Erin's erasure, a new delivery mixing her records with others': her records are dropped at ingest,
    never quarantined, and the landing files no longer hold them (rewritten, or deleted when only hers);
    everyone else's rows load, numbered by their position in the rewritten file."""
    from purge_scenario import FILLERS, _csv, _event, grep_home

    from lethe.ingest.run import run_ingest

    run_purge(scenario, dry_run=False)
    t = scenario.landing / TENANT
    late = {
        "events": t / "email_events" / "late" / "mixed.json",
        "ctr": t / "contact_records" / "late" / "mixed.jsonl",
        "only_erin": t / "contact_records" / "late" / "erin-only.jsonl",
        "contacts": t / "crm" / "contacts" / "late.csv",
        "transcript": t / "transcripts" / "late" / "erin.json",
        "recording": t / "recordings" / "late" / "ctr-erin-2.wav",
    }
    for path in late.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    late["events"].write_text(json.dumps([
        _event("ev-late-erin-1", ERIN["email"], days_ago(2), "processed"),
        _event("ev-late-f00", FILLERS[0]["email"], days_ago(2), "processed"),
        _event("ev-late-erin-bad", ERIN["email"], days_ago(2, 11), "exploded"),  # would be quarantined
        _event("ev-late-f01-bad", FILLERS[1]["email"], days_ago(2, 12), "exploded"),
    ]))
    late["ctr"].write_text("\n".join(json.dumps(r) for r in (
        _ctr("ctr-erin-7", ERIN, days_ago(2), None), _ctr("ctr-wendy-7", WENDY, days_ago(2), None))) + "\n")
    late["only_erin"].write_text(json.dumps(_ctr("ctr-erin-8", ERIN, days_ago(1), None)) + "\n")
    header = ["Id", "IndividualId", "FirstName", "LastName", "Email", "Phone", "MobilePhone", "MailingStreet",
              "MailingCity", "MailingPostalCode", "MailingCountry", "Birthdate", "HasOptedOutOfEmail", "DoNotCall",
              "CreatedDate", "LastModifiedDate", "LastActivityDate", "Customer_Status__c", "Contract_End_Date__c"]
    _csv(late["contacts"], header, [
        [p["id"], p["ind"], p["first"], p["last"], p["email"], p["human_phone"], "", "2 Low St", "Leeds", "LS1 1AA",
         "United Kingdom", "1980-05-17", "false", "false", "2024-01-01T00:00:00Z", "2026-05-30T00:00:00Z",
         "2026-05-01", "active", ""] for p in (ERIN, WENDY)])
    late["transcript"].write_text(json.dumps(_transcript("ctr-erin-2", ERIN, days_ago(15))))
    late["recording"].write_bytes(WAV)

    summary = run_ingest(scenario, scenario.landing)

    erin = [ERIN["email"], ERIN["phone"], ERIN["human_phone"], ERIN["last"], "ctr-erin-7", "ctr-erin-8"]
    assert grep_home(scenario.landing, erin) == []
    assert not late["only_erin"].exists() and not late["transcript"].exists() and not late["recording"].exists()
    assert [e["sg_event_id"] for e in json.loads(late["events"].read_text())] == ["ev-late-f00", "ev-late-f01-bad"]
    assert "ctr-wendy-7" in late["ctr"].read_text()
    assert "Wendy" in late["contacts"].read_text()
    assert sum(s.tombstoned for s in summary.sources) >= 8
    rel = f"{TENANT}/email_events/late/mixed.json"
    # the filler's rows load; the bad one is quarantined at its position in the rewritten file, Erin's bad one is not
    assert _count(scenario, "select count(*) from raw.email_events where sg_event_id = 'ev-late-f00'") == 1
    assert _count(scenario, "select count(*) from quarantine.rows where source_file = ? and source_row = 2 "
                            "and record like '%ev-late-f01-bad%'", [rel]) == 1
    assert _count(scenario, "select count(*) from quarantine.rows where record like '%ev-late-erin%'") == 0
    assert _count(scenario, "select count(*) from raw.contact_records where contact_id = 'ctr-wendy-7' "
                            "and _source_row = 1", []) == 1
    assert _count(scenario, "select count(*) from raw.crm_contacts where id = ? and mailing_city = 'Leeds'",
                  [WENDY["id"]]) == 1
    # the manifest knows the rewritten files' new content: the next ingest sees nothing new or changed
    again = run_ingest(scenario, scenario.landing)
    assert sum(s.changed_files + s.files for s in again.sources) == 0


def test_files_the_erasure_deleted_restored_at_their_own_paths_are_dropped_again(scenario: Settings, tmp_path) -> None:
    """A restore of the landing zone from a backup (an 's3 sync' back) puts the files the erasure deleted back at
    their old paths, byte for byte. Ingest skipped them as already loaded (the manifest knew the path and the
    sha256), so Erin's records stayed on disk for good; a transcript or recording the purge deleted was still
    'loaded' in the manifest. Now such a file is a new delivery: her records are dropped and the files deleted."""
    import shutil

    from purge_scenario import grep_home

    from lethe.ingest.run import run_ingest
    from lethe.ingest.schema import purged_name

    before = tmp_path / "backup"
    shutil.copytree(scenario.landing, before)
    run_purge(scenario, dry_run=False)
    restored = [p.relative_to(before) for p in before.rglob("*") if p.is_file()
                and not (scenario.landing / p.relative_to(before)).exists()]
    kinds = {rel.parts[1] for rel in restored}
    assert {"transcripts", "recordings"} <= kinds, kinds  # whole files of hers that the erasure deleted
    # the manifest knows them as purged, under a keyed hash of their path (named by ContactIds), not the path
    hidden = [purged_name(scenario.secret_key, rel.parts[0], rel.as_posix()) for rel in restored]
    assert _count(scenario, "select count(*) from lethe_meta.manifest where status = 'purged' and list_contains(?, path)",
                  [hidden]) == len(restored)
    assert _count(scenario, "select count(*) from lethe_meta.manifest where list_contains(?, path)",
                  [[rel.as_posix() for rel in restored]]) == 0
    for rel in restored:
        shutil.copy2(before / rel, scenario.landing / rel)

    run_ingest(scenario, scenario.landing)

    erin = [ERIN["email"], ERIN["phone"], ERIN["human_phone"], ERIN["last"], "ctr-erin-1", "ctr-erin-2"]
    assert grep_home(scenario.landing, erin) == []
    assert [rel.name for rel in restored if (scenario.landing / rel).exists()] == ["ctr-rita-1.wav"]
    # Rita's recording, purged for its age, was delivered again: loaded again, it is due again at the next purge
    assert _count(scenario, "select count(*) from raw.recordings where recording_path like '%ctr-rita-1.wav'") == 1
    assert _count(scenario, "select count(*) from raw.contact_records where contact_id like 'ctr-erin-%'") == 0
    assert _count(scenario, "select count(*) from raw.transcripts where contact_id like 'ctr-erin-%'") == 0


def test_an_erased_persons_individual_and_consents_delivered_again_are_dropped(scenario: Settings) -> None:
    """The CRM's next export still holds Erin's Individual and her consent (PartyId: that Individual). They carry
    no email, phone or Contact Id, so they loaded again and stayed until the next purge. Her Individual is now
    tombstoned and both are dropped at ingest; Wendy's rows in the same files load."""
    from purge_scenario import _csv

    from lethe.ingest.run import run_ingest

    run_purge(scenario, dry_run=False)
    crm = scenario.landing / TENANT / "crm"
    _csv(crm / "individuals" / "again.csv", ["Id", "HasOptedOutProcessing", "HasOptedOutProfiling", "HasOptedOutSolicit",
                                              "ShouldForget", "SendIndividualData", "LastModifiedDate"],
         [[p["ind"], "false", "false", "false", "true", "false", "2026-05-30T00:00:00Z"] for p in (ERIN, WENDY)])
    _csv(crm / "consents" / "again.csv",
         ["Id", "PartyId", "ContactPointType", "DataUsePurposeId", "PrivacyConsentStatus", "CaptureDate", "CaptureSource",
          "DoubleConsentCaptureDate", "EffectiveFrom", "EffectiveTo", "LastModifiedDate", "Capture_Method__c",
          "Notice_Version__c"],
         [[f"0ZW{p['id'][3:]}X", p["ind"], "Email", "0ZVMKT", "OptIn", "2025-09-01T00:00:00Z", "web form", "",
           "2025-09-01T00:00:00Z", "", "2026-05-30T00:00:00Z", "explicit_opt_in", "v3"] for p in (ERIN, WENDY)])
    run_ingest(scenario, scenario.landing)

    assert _count(scenario, "select count(*) from raw.crm_individuals where id = ?", [ERIN["ind"]]) == 0
    assert _count(scenario, "select count(*) from raw.crm_consents where party_id = ?", [ERIN["ind"]]) == 0
    assert _count(scenario, "select count(*) from raw.crm_consents where id = '0ZWWENDYX'") == 1
    assert ERIN["ind"] not in (crm / "individuals" / "again.csv").read_text()
    assert ERIN["ind"] not in (crm / "consents" / "again.csv").read_text()
