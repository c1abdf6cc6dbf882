"""The named scenario carried through purge: every outcome checked on disk (files, rows, tombstones, audit)."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC

import duckdb
import pytest
from purge_scenario import (
    AS_OF,
    ERIN,
    HANK,
    RITA,
    TENANT,
    WENDY,
    grep_home,
    ingest,
    landing_digest,
    query_rows,
    table_counts,
)

from lethe.audit import read_entries, verify_chain
from lethe.keys import keyed_hash
from lethe.purge import run_purge
from lethe.settings import Settings


def _ctr_lines(settings: Settings) -> dict[str, dict]:
    root = settings.landing / TENANT / "contact_records"
    lines = (root / "2026" / "02" / "ctr-old.jsonl").read_text().splitlines()
    lines += gzip.decompress((root / "2026" / "05" / "ctr-new.jsonl.gz").read_bytes()).decode().splitlines()
    return {json.loads(line)["ContactId"]: json.loads(line) for line in lines if line.strip()}


def test_rita_loses_the_91_day_old_recording_but_keeps_the_contact_record(scenario: Settings) -> None:
    run_purge(scenario, dry_run=False)
    recordings = scenario.landing / TENANT / "recordings" / "2026"
    assert not (recordings / "ctr-rita-1.wav").exists()
    assert (recordings / "ctr-rita-2.wav").exists()  # 10 days old: kept
    rows = dict(query_rows(scenario, "select contact_id, recording_location from raw.contact_records "
                                "where contact_id like 'ctr-rita-%'"))
    assert rows == {"ctr-rita-1": None, "ctr-rita-2": "recordings/2026/ctr-rita-2.wav"}
    assert query_rows(scenario, "select recording_path from raw.recordings where recording_path like '%rita%'") == [
        ("recordings/2026/ctr-rita-2.wav",)
    ]
    lines = _ctr_lines(scenario)
    assert "Recording" not in lines["ctr-rita-1"] and lines["ctr-rita-1"]["Channel"] == "VOICE"
    assert lines["ctr-rita-2"]["Recording"]["Location"] == "recordings/2026/ctr-rita-2.wav"


def test_hank_under_legal_hold_keeps_everything_despite_his_erasure_request(scenario: Settings) -> None:
    before = landing_digest(scenario)
    run_purge(scenario, dry_run=False)
    assert (scenario.landing / TENANT / "recordings" / "2026" / "ctr-hank-1.wav").exists()
    assert query_rows(scenario, "select count(*) from raw.crm_contacts where id = ?", [HANK["id"]]) == [(1,)]
    assert query_rows(scenario, "select recording_location from raw.contact_records where contact_id = 'ctr-hank-1'") == [
        ("recordings/2026/ctr-hank-1.wav",)
    ]
    assert "Recording" in _ctr_lines(scenario)["ctr-hank-1"]
    assert landing_digest(scenario)[f"{TENANT}/crm/legal_holds/holds.csv"] == before[f"{TENANT}/crm/legal_holds/holds.csv"]


def test_erin_who_asked_to_be_erased_is_gone_everywhere_and_tombstoned(scenario: Settings) -> None:
    result = run_purge(scenario, dry_run=False)
    assert any(a.reason == "erasure_request" and a.data_category == "crm.contact" for a in result.actions)
    for table, where in [
        ("crm_contacts", f"id = '{ERIN['id']}'"),
        ("crm_individuals", f"id = '{ERIN['ind']}'"),
        ("crm_consents", f"party_id = '{ERIN['ind']}'"),
        ("contact_records", "contact_id like 'ctr-erin-%'"),
        ("transcripts", "contact_id like 'ctr-erin-%'"),
        ("email_events", f"email = '{ERIN['email']}'"),
        ("recordings", "recording_path like '%erin%'"),
    ]:
        assert query_rows(scenario, f"select count(*) from raw.{table} where {where}") == [(0,)], table
    assert query_rows(scenario, "select count(*) from quarantine.rows where record like '%erin%'") == [(0,)]
    # the DSR row itself stays as evidence, without personal data
    assert query_rows(scenario, "select type, crm_contact_id, subject_email, details from raw.dsr_requests "
                           "where request_id = 'dsr-erin'") == [("erasure", ERIN["id"], None, None)]
    assert not (scenario.landing / TENANT / "transcripts" / "ctr-erin-2.json").exists()
    assert not (scenario.landing / TENANT / "recordings" / "2026" / "ctr-erin-1.wav").exists()
    assert not {"ctr-erin-1", "ctr-erin-2"} & set(_ctr_lines(scenario))
    events = json.loads((scenario.landing / TENANT / "email_events" / "events.json").read_text())
    assert {e["sg_event_id"] for e in events if "erin" in e["sg_event_id"]} == set()
    key = scenario.secret_key
    expected = {
        ("contact", keyed_hash(key, TENANT, "contact", ERIN["id"])),
        ("email", keyed_hash(key, TENANT, "email", ERIN["email"])),
        ("phone", keyed_hash(key, TENANT, "phone", ERIN["phone"])),
        ("individual", keyed_hash(key, TENANT, "individual", ERIN["ind"])),
        ("connect_contact", keyed_hash(key, TENANT, "connect_contact", "ctr-erin-1")),
        ("connect_contact", keyed_hash(key, TENANT, "connect_contact", "ctr-erin-2")),
    }
    assert set(query_rows(scenario, "select kind, identity_hash from lethe_meta.tombstones")) == expected


def test_wendy_who_withdrew_and_was_mailed_keeps_her_recent_records(scenario: Settings) -> None:
    run_purge(scenario, dry_run=False)
    assert query_rows(scenario, "select sg_event_id from raw.email_events where email = ? order by 1", [WENDY["email"]]) == [
        ("ev-wendy-1",), ("ev-wendy-2",), ("ev-wendy-3",)
    ]
    events = json.loads((scenario.landing / TENANT / "email_events" / "events.json").read_text())
    assert sum(e["email"] == WENDY["email"] for e in events) == 3


def test_audit_log_records_the_run_with_subject_keys_only(scenario: Settings) -> None:
    result = run_purge(scenario, dry_run=False)
    entries = read_entries(scenario.audit_log)
    assert [e["event"] for e in entries] == ["purge.planned", "purge.completed"]
    assert all(e["run_id"] == result.run_id for e in entries)
    planned, completed = entries
    assert planned["policy_sha256"] and planned["as_of"].startswith("2026-06-01")
    assert planned["subject_keys"] == [keyed_hash(scenario.secret_key, TENANT, "contact", ERIN["id"])]
    tables = {(c["table"], c["action"]) for c in completed["counts"]}
    assert ("raw.crm_contacts", "delete") in tables and ("file:recordings", "delete_file") in tables
    assert verify_chain(scenario.audit_log) == 2
    text = scenario.audit_log.read_text().lower()
    for needle in (ERIN["email"], ERIN["phone"], ERIN["last"].lower(), RITA["email"]):
        assert needle not in text


def test_grep_the_disk_finds_nothing_of_erin_after_the_purge(scenario: Settings) -> None:
    needles = [ERIN["email"], ERIN["phone"], ERIN["human_phone"], ERIN["last"]]
    root = scenario.home.parent
    assert grep_home(root, needles), "the scenario must hold Erin's data before the purge"
    result = run_purge(scenario, dry_run=False)
    assert result.compacted is None or result.compacted[1] > 0
    assert not (scenario.home / "warehouse.duckdb.wal").exists()
    assert grep_home(root, needles) == []
    assert grep_home(root, [HANK["email"]]), "a held subject's data must still be found (the grep works)"


def test_reingest_after_erasure_brings_nobody_back(scenario: Settings, tmp_path) -> None:
    pristine = tmp_path / "pristine"
    shutil.copytree(scenario.landing, pristine)
    run_purge(scenario, dry_run=False)
    # the source re-delivers Erin's records under new file names
    t = scenario.landing / TENANT
    shutil.copy(pristine / TENANT / "crm" / "contacts" / "contacts.csv", t / "crm" / "contacts" / "redelivered.csv")
    shutil.copy(pristine / TENANT / "email_events" / "events.json", t / "email_events" / "redelivered.json")
    shutil.copy(pristine / TENANT / "contact_records" / "2026" / "05" / "ctr-new.jsonl.gz",
                t / "contact_records" / "redelivered.jsonl.gz")
    ingest(scenario)
    assert query_rows(scenario, "select count(*) from raw.crm_contacts where id = ?", [ERIN["id"]]) == [(0,)]
    assert query_rows(scenario, "select count(*) from raw.email_events where email = ?", [ERIN["email"]]) == [(0,)]
    assert query_rows(scenario, "select count(*) from raw.contact_records where contact_id like 'ctr-erin-%'") == [(0,)]
    assert query_rows(scenario, "select count(*) from raw.crm_contacts where id = ?", [WENDY["id"]]) == [(1,)]


def test_dry_run_changes_nothing(scenario: Settings) -> None:
    landing, counts = landing_digest(scenario), table_counts(scenario)
    result = run_purge(scenario, dry_run=True)
    assert result.dry_run and result.record_count > 0
    payload = result.to_dict()
    assert set(payload) >= {"run_id", "dry_run", "actions"}
    assert set(payload["actions"][0]) == {"tenant", "data_category", "reason", "action", "record_count"}
    assert landing_digest(scenario) == landing and table_counts(scenario) == counts
    assert not scenario.audit_log.exists()
    assert query_rows(scenario, "select count(*) from information_schema.tables where table_name = 'purge_runs'") == [(0,)]


def test_second_run_after_a_purge_finds_nothing_more_to_do(scenario: Settings) -> None:
    run_purge(scenario, dry_run=False)
    landing, counts = landing_digest(scenario), table_counts(scenario)
    again = run_purge(scenario, dry_run=False)
    assert again.counts == () and landing_digest(scenario) == landing and table_counts(scenario) == counts


@pytest.mark.slow
def test_scenario_through_ingest_dbt_build_and_purge(scenario: Settings) -> None:
    """With the real dbt mart (not the hand-built one): the same outcomes, and the rebuilt mart is empty."""
    from lethe.build import run_build

    con = duckdb.connect(str(scenario.warehouse))
    con.execute("drop table marts.retention_due")
    con.close()
    run_build(scenario)
    due = query_rows(scenario, "select reason, source_table, record_id from marts.retention_due order by all")
    assert ("retention_expired", "recordings", "ctr-rita-1") in due
    assert ("erasure_request", "crm_contacts", ERIN["id"]) in due
    assert not [r for r in due if "hank" in r[2].lower()]
    result = run_purge(scenario, dry_run=False)
    assert result.derived == "rebuilt"
    assert query_rows(scenario, "select count(*) from marts.retention_due") == [(0,)]
    assert not (scenario.landing / TENANT / "recordings" / "2026" / "ctr-rita-1.wav").exists()
    assert grep_home(scenario.home.parent, [ERIN["email"], ERIN["phone"], ERIN["last"]]) == []


def _built(scenario: Settings) -> None:
    """The real dbt due mart instead of the hand-built one, built at the scenario's as-of."""
    from lethe.build import run_build

    con = duckdb.connect(str(scenario.warehouse))
    con.execute("drop table marts.retention_due")
    con.close()
    run_build(scenario)


@pytest.mark.slow
def test_a_purge_judged_after_the_last_build_completes_and_the_next_one_takes_what_fell_due_since(
    scenario: Settings,
) -> None:
    """`lethe build`, then `lethe purge` later (its as-of is now): records that fell due in between are not in
    the due list the plan copies, and the rebuild at the purge's as-of finds them. That run used to fail its
    verification, and every later run resumed it and failed again, forever. Now it completes and says so, and
    the next run takes them."""
    from datetime import timedelta

    _built(scenario)
    (next_due,) = query_rows(scenario, "select min(due_at) from marts.fct_retention_status "
                                       "where not is_due and not is_held and due_at is not null")[0]
    later = scenario.with_as_of(next_due.replace(tzinfo=UTC) + timedelta(days=1))
    first = run_purge(later, dry_run=False)
    assert first.derived == "rebuilt"
    (note,) = [n for n in first.notes if "fell due after the last build's due list" in n]
    fell_due = int(note.split()[0])
    assert fell_due >= 1
    second = run_purge(later, dry_run=False)
    assert sum(a.record_count for a in second.actions) == fell_due and second.notes == ()
    assert query_rows(later, "select count(*) from marts.retention_due") == [(0,)]
    assert verify_chain(later.audit_log) > 0


@pytest.mark.slow
def test_a_purge_judged_before_the_last_build_takes_only_what_was_due_then(scenario: Settings) -> None:
    """Rita's recording fell due a day before the scenario's as-of: a purge judged a month earlier (a backfill)
    must not take it, though the due list of the build at the as-of holds it."""
    from datetime import timedelta

    _built(scenario)
    earlier = scenario.with_as_of(AS_OF - timedelta(days=30))
    result = run_purge(earlier, dry_run=False)
    assert not [a for a in result.actions if a.tenant == TENANT and a.data_category == "interaction.recording"]
    assert (scenario.landing / TENANT / "recordings" / "2026" / "ctr-rita-1.wav").exists()
    assert result.dry_run is False
    later = run_purge(scenario, dry_run=False)  # at the as-of itself: now it goes
    assert later.derived == "rebuilt"
    assert not (scenario.landing / TENANT / "recordings" / "2026" / "ctr-rita-1.wav").exists()
