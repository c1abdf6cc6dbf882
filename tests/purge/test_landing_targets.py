"""The landing rewrite opens only the files that hold a purged record, and finds re-delivered copies in other files."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from purge_scenario import (
    ERIN,
    FILLERS,
    TENANT,
    _ctr,
    _event,
    _transcript,
    days_ago,
    grep_home,
    ingest,
    iso,
    query_rows,
)

import lethe.purge.files as purge_files
from lethe.purge import run_purge
from lethe.settings import Settings


def _redeliver(settings: Settings) -> dict[str, Path]:
    """A second delivery: Erin's email events again (same sg_event_id, loses dedupe), her contact record with a
    later LastUpdateTimestamp (replaces the raw row, so the first file's copy is the stale one), her transcript
    under a new name, and a file holding only other people's events."""
    t = settings.landing / TENANT
    files = {
        "events": t / "email_events" / "redelivery" / "erin-again.json",
        "fillers": t / "email_events" / "redelivery" / "fillers-only.json",
        "ctr": t / "contact_records" / "redelivery" / "erin-update.jsonl",
        "transcript": t / "transcripts" / "redelivery" / "ctr-erin-2-again.json",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    files["events"].write_text(json.dumps([
        _event("ev-erin-1", ERIN["email"], days_ago(40), "processed"),
        _event("ev-erin-2", ERIN["email"], days_ago(40, 11), "open"),
        _event("ev-f00-1", FILLERS[0]["email"], days_ago(30), "processed"),
    ]))
    files["fillers"].write_text(json.dumps([_event("ev-f01-9", FILLERS[1]["email"], days_ago(31), "open")]))
    update = _ctr("ctr-erin-2", ERIN, days_ago(15), None, channel="CHAT")
    update["LastUpdateTimestamp"] = iso(days_ago(15) + timedelta(hours=2))
    files["ctr"].write_text(json.dumps(update) + "\n")
    files["transcript"].write_text(json.dumps(_transcript("ctr-erin-2", ERIN, days_ago(15))))
    ingest(settings)
    return files


def test_redelivered_copies_are_found_and_untouched_files_are_not_opened(
    scenario: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _redeliver(scenario)
    con = duckdb.connect(str(scenario.warehouse), read_only=True)
    try:
        copies = {r[0] for r in con.execute("select source_file from lethe_meta.record_copies").fetchall()}
    finally:
        con.close()
    # the losing re-delivery and the replaced first copy are both recorded at ingest
    assert f"{TENANT}/email_events/redelivery/erin-again.json" in copies
    assert f"{TENANT}/contact_records/2026/05/ctr-new.jsonl.gz" in copies
    assert f"{TENANT}/transcripts/redelivery/ctr-erin-2-again.json" in copies

    opened: list[Path] = []
    real_read = purge_files._read

    def spy(path: Path) -> bytes:
        opened.append(path)
        return real_read(path)

    monkeypatch.setattr(purge_files, "_read", spy)
    run_purge(scenario, dry_run=False)

    assert files["fillers"] not in opened, "a file holding no purged record must not be opened"
    assert files["fillers"].exists()
    assert not files["transcript"].exists()
    kept = json.loads(files["events"].read_text())
    assert [e["sg_event_id"] for e in kept] == ["ev-f00-1"]
    assert not files["ctr"].exists()  # nothing of it survives
    old = gzip.decompress((scenario.landing / TENANT / "contact_records" / "2026" / "05" / "ctr-new.jsonl.gz")
                          .read_bytes()).decode()
    assert "ctr-erin" not in old
    assert grep_home(scenario.landing, [ERIN["email"], ERIN["phone"], ERIN["human_phone"], ERIN["last"]]) == []
    # every file the landing phase opened is one the plan named
    assert all(TENANT in str(p) for p in opened)
    assert len(opened) < sum(1 for p in scenario.landing.rglob("*") if p.is_file())


def test_ingest_after_a_purge_does_not_take_its_rewrites_for_changed_deliveries(scenario: Settings) -> None:
    """The purge rewrites landing files; the next ingest must not quarantine them as 'content changed'."""
    from lethe.ingest.run import run_ingest

    files = _redeliver(scenario)
    run_purge(scenario, dry_run=False)
    rewritten = files["events"]
    assert rewritten.exists() and "ev-erin-1" not in rewritten.read_text()  # the purge did rewrite it

    summary = run_ingest(scenario, scenario.landing)

    assert sum(s.changed_files for s in summary.sources) == 0
    assert sum(s.loaded for s in summary.sources) == 0  # nothing reloaded either
    from lethe.ingest.schema import purged_name

    kept, deleted = f"{TENANT}/email_events/redelivery/erin-again.json", f"{TENANT}/contact_records/redelivery/erin-update.jsonl"
    hidden = purged_name(scenario.secret_key, TENANT, deleted)  # the manifest keeps a deleted file's path as a keyed hash
    con = duckdb.connect(str(scenario.warehouse), read_only=True)
    try:
        changed = con.execute("select count(*) from quarantine.files where reason like 'content changed%'").fetchone()[0]
        statuses = dict(con.execute("select path, status from lethe_meta.manifest where path in (?, ?, ?)",
                                    [kept, deleted, hidden]).fetchall())
    finally:
        con.close()
    assert changed == 0
    assert statuses == {kept: "loaded", hidden: "purged"}


def test_a_partly_loaded_csv_is_rewritten_at_the_positions_ingest_gave(scenario: Settings) -> None:
    """A CSV that ingest loaded in part (a row of the wrong width quarantined alone) with a blank line before it:
    the purge drops Erin's quarantined row by its ingest position and her re-delivered row by its id; every
    other record stays byte for byte, line endings too."""
    from lethe.ingest.run import run_ingest

    header = ("Id,IndividualId,FirstName,LastName,Email,Phone,MobilePhone,MailingStreet,MailingCity,MailingPostalCode,"
              "MailingCountry,Birthdate,HasOptedOutOfEmail,DoNotCall,CreatedDate,LastModifiedDate,LastActivityDate,"
              "Customer_Status__c,Contract_End_Date__c\r\n")

    def row(p: dict, extra: str = "") -> str:
        return (f'{p["id"]},{p["ind"]},{p["first"]},{p["last"]},{p["email"]},{p["human_phone"]},,"1 High St, Flat 2",'
                f"London,SW1A 1AA,United Kingdom,1980-05-17,false,false,2024-01-01T00:00:00Z,2026-01-01T00:00:00Z,"
                f"2026-04-01,active,{extra}\r\n")

    kept_1, kept_2 = row(FILLERS[1]), row(FILLERS[2])
    path = scenario.landing / TENANT / "crm" / "contacts" / "late.csv"
    path.write_bytes((header + kept_1 + "\r\n" + row(ERIN, ",one field too many") + row(ERIN) + kept_2).encode())
    run_ingest(scenario, scenario.landing)
    con = duckdb.connect(str(scenario.warehouse), read_only=True)
    try:
        quarantined = con.execute(
            "select source_row, reason from quarantine.rows where source_file = ?", [f"{TENANT}/crm/contacts/late.csv"]
        ).fetchall()
    finally:
        con.close()
    assert quarantined == [(2, "row has 20 fields, header has 19")]  # the blank line is no row

    run_purge(scenario, dry_run=False)

    assert path.read_bytes() == (header + kept_1 + kept_2).encode()
    assert grep_home(scenario.landing, [ERIN["email"], ERIN["last"]]) == []


def test_records_that_did_not_parse_are_kept_as_text_and_erased_with_their_subject(scenario: Settings) -> None:
    """A JSONL delivery that ingest loaded in part: three truncated lines quarantined alone (one with nobody's
    data, a cut-off copy of Erin's record, a broken line with her phone written the human way) and her
    re-delivered record. The quarantine keeps each broken line's text (its fields are null); the purge erases
    her record and both broken lines that hold her, from the file and the quarantine, and keeps every other
    line byte for byte; reading a key out of a broken line does not stop it."""
    from lethe.ingest.run import run_ingest

    update = _ctr("ctr-erin-2", ERIN, days_ago(15), None, channel="CHAT")
    update["LastUpdateTimestamp"] = iso(days_ago(15) + timedelta(hours=3))
    filler = json.dumps(_ctr("ctr-f01", FILLERS[1], days_ago(6), None, channel="CHAT")) + "\n"
    broken = '{"ContactId": "ctr-partial", "Channel": "VOI\n'
    cut = json.dumps(update)[:-40] + "\n"
    phoned = '{"ContactId": "ctr-call-back", "CustomerEndpoint": {"Address": "' + ERIN["human_phone"] + '", "Ty\n'
    path = scenario.landing / TENANT / "contact_records" / "redelivery" / "glitch.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(filler + broken + json.dumps(update) + "\n" + cut + phoned)
    run_ingest(scenario, scenario.landing)
    quarantined = lambda: query_rows(  # noqa: E731
        scenario, "select source_row, reason, record from quarantine.rows where source_file = ? order by source_row",
        [f"{TENANT}/contact_records/redelivery/glitch.jsonl"])
    assert quarantined() == [(2, "malformed JSON line", broken.strip()), (4, "malformed JSON line", cut.strip()),
                             (5, "malformed JSON line", phoned.strip())]

    run_purge(scenario, dry_run=False)

    assert path.read_text() == filler + broken
    assert quarantined() == [(2, "malformed JSON line", broken.strip())]
    assert grep_home(scenario.home, [ERIN["email"], ERIN["last"], ERIN["human_phone"]]) == []
    assert grep_home(scenario.landing, [ERIN["email"], ERIN["last"], ERIN["human_phone"]]) == []


def test_a_quarantined_record_with_a_human_written_phone_is_erased_with_its_subject(scenario: Settings) -> None:
    """A call record that parsed but broke a rule (its InitiationTimestamp is no time), whose file writes Erin's
    phone the human way ('07700 900103'), is quarantined with that phone normalised. Her erasure finds it by the
    phone alone and deletes it from the quarantine and, by its position, from its file; the good line stays."""
    from lethe.ingest.run import run_ingest

    bad = _ctr("ctr-erin-bad", ERIN, days_ago(9), None)
    bad["InitiationTimestamp"] = "yesterday at noon"
    bad.pop("Attributes")  # nothing but the phone says whose it is
    filler = json.dumps(_ctr("ctr-f03-9", FILLERS[3], days_ago(9), None, channel="CHAT")) + "\n"
    path = scenario.landing / TENANT / "contact_records" / "late" / "bad-time.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(filler + json.dumps(bad) + "\n")
    run_ingest(scenario, scenario.landing)
    rel = f"{TENANT}/contact_records/late/bad-time.jsonl"
    rules = query_rows(scenario, "select source_row, rule, record like '%\"+447700900103\"%' from quarantine.rows "
                                 "where source_file = ?", [rel])
    assert rules == [(2, "type:initiation_timestamp", True)]

    run_purge(scenario, dry_run=False)

    assert query_rows(scenario, "select count(*) from quarantine.rows where source_file = ?", [rel]) == [(0,)]
    assert path.read_text() == filler
    assert grep_home(scenario.home, [ERIN["human_phone"]]) == []
    assert grep_home(scenario.landing, [ERIN["human_phone"]]) == []


def test_a_broken_copy_of_an_erased_record_delivered_later_is_dropped_not_quarantined(scenario: Settings) -> None:
    """After Erin's erasure, a delivery with a truncated copy of her contact record (it does not parse, so only
    its text can say whose it is) next to someone else's record: ingest drops her line from the file and keeps
    nothing of it in the quarantine; the other record loads."""
    from lethe.ingest.run import run_ingest

    run_purge(scenario, dry_run=False)
    late = _ctr("ctr-erin-9", ERIN, days_ago(2), None, channel="CHAT")
    filler = json.dumps(_ctr("ctr-f02-9", FILLERS[2], days_ago(2), None, channel="CHAT")) + "\n"
    path = scenario.landing / TENANT / "contact_records" / "late" / "glitch.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(late)[:-30] + "\n" + filler)

    run_ingest(scenario, scenario.landing)

    assert path.read_text() == filler
    assert query_rows(scenario, "select count(*) from quarantine.rows where source_file = ?",
                      [f"{TENANT}/contact_records/late/glitch.jsonl"]) == [(0,)]
    assert query_rows(scenario, "select count(*) from raw.contact_records where contact_id = 'ctr-f02-9'") == [(1,)]
    assert grep_home(scenario.home, [ERIN["email"], ERIN["last"]]) == []
