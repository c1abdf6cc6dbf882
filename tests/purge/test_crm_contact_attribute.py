"""An Amazon Connect contact record may name its customer only through the contact attribute `crmContactId` (a TASK
with no CustomerEndpoint: `Attributes: {"intent": "moving_home", "crmContactId": "0035g..."}`; the generator plants
such records). It belongs to that CRM contact's data subject.

Before, such a record (and its transcript) was linked to nobody: an erasure of the contact left the raw row, its
landing lines and its transcript behind, and an access export of the contact left the interaction out."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import generated_home
import pytest
from purge_scenario import grep_home, query_rows

from lethe.settings import Settings

TENANT = generated_home.NO_HOLDS  # no legal holds: every contact of it can be erased


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_home.build(tmp_path_factory.mktemp("crm-contact-attribute"))


def _task_naming_a_contact(settings: Settings) -> tuple[str, str, object]:
    """(ContactId, CRM Contact Id, InitiationTimestamp) of a contact record with no customer address whose
    crmContactId attribute is a CRM contact's Id."""
    rows = query_rows(settings, f"""
        select r.contact_id, k.id, r.initiation_timestamp from raw.contact_records r
        join raw.crm_contacts k on k.tenant_id = r.tenant_id
            and k.id = json_extract_string(r.attributes, '$.crmContactId')
        where r.tenant_id = '{TENANT}' and r.customer_address is null
        order by r.contact_id""")
    assert rows, "the generated home must hold a record naming its customer only by crmContactId"
    return rows[0]


def _plant_transcript(settings: Settings, contact_id: str, at: object) -> Path:
    """A chat transcript for the record, landed and ingested."""
    from lethe.ingest import run_ingest

    path = settings.landing / TENANT / "transcripts" / "planted" / f"{contact_id}_planted.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = (at + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[operator]
    path.write_text(json.dumps({"ContactId": contact_id, "Transcript": [
        {"ParticipantRole": "AGENT", "Content": "Your move is booked.", "AbsoluteTime": stamp},
        {"ParticipantRole": "CUSTOMER", "Content": "Thanks, bye.", "AbsoluteTime": stamp},
    ]}), encoding="utf-8")
    run_ingest(settings, landing=settings.landing)
    assert query_rows(settings, f"select count(*) from raw.transcripts where contact_id = '{contact_id}'") == [(2,)]
    return path


def test_export_lists_the_interaction_named_by_crm_contact_id(built: Path, tmp_path: Path) -> None:
    from lethe.dsr import SubjectRef, export_subject

    settings = generated_home.copy(built, tmp_path / "h")
    call, crm_id, at = _task_naming_a_contact(settings)
    _plant_transcript(settings, call, at)

    out = export_subject(settings, TENANT, SubjectRef(contact_id=crm_id), "json", tmp_path / "export.json")
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert call in {i["ContactId"] for i in doc["interactions"]}
    assert call in {t["ContactId"] for t in doc["transcripts"]}


def test_erasure_removes_the_record_its_landing_lines_and_transcript(built: Path, tmp_path: Path) -> None:
    from lethe.dsr import SubjectRef, erase_subject

    settings = generated_home.copy(built, tmp_path / "h")
    call, crm_id, at = _task_naming_a_contact(settings)
    transcript = _plant_transcript(settings, call, at)
    folder = settings.landing / TENANT / "contact_records"
    assert grep_home(folder, [call]), "the record's landing line must be there before the erasure"

    erase_subject(settings, TENANT, SubjectRef(contact_id=crm_id))

    assert query_rows(settings, f"select count(*) from raw.contact_records where contact_id = '{call}'") == [(0,)]
    assert query_rows(settings, "select count(*) from raw.contact_records "
                                f"where json_extract_string(attributes, '$.crmContactId') = '{crm_id}'") == [(0,)]
    assert query_rows(settings, f"select count(*) from raw.transcripts where contact_id = '{call}'") == [(0,)]
    assert not transcript.exists()
    # no landing line names the record or the contact any more
    assert grep_home(folder, [call, crm_id]) == []
    assert grep_home(settings.landing / TENANT / "transcripts", [call]) == []
    # the marts hold nothing of the record either
    assert query_rows(settings, "select count(*) from intermediate.int_retention_records_anchored "
                                f"where tenant_id = '{TENANT}' and record_id = '{call}'") == [(0,)]


def test_a_new_task_naming_the_erased_contact_is_dropped_at_ingest(built: Path, tmp_path: Path) -> None:
    """After the erasure, the contact centre's next export holds a new TASK naming the erased contact only by its
    crmContactId: ingest drops it (tombstone of the CRM contact id) and rewrites the landing file without it, and
    keeps the other customer's record delivered beside it."""
    from lethe.dsr import SubjectRef, erase_subject
    from lethe.ingest import run_ingest

    settings = generated_home.copy(built, tmp_path / "h")
    call, crm_id, _ = _task_naming_a_contact(settings)
    erase_subject(settings, TENANT, SubjectRef(contact_id=crm_id))

    folder = settings.landing / TENANT / "contact_records"
    template = json.loads(next(line for f in sorted(folder.rglob("*.jsonl"))
                               for line in f.read_text(encoding="utf-8").splitlines() if line.strip()))
    kept = {**template, "ContactId": "kept-0000-other-customer"}
    planted = {**template, "ContactId": "task-0000-names-erased", "Channel": "TASK", "CustomerEndpoint": None,
               "Attributes": {"intent": "moving_home", "crmContactId": crm_id}}
    new_file = folder / "next-export" / "records.jsonl"
    new_file.parent.mkdir(parents=True)
    new_file.write_text("".join(json.dumps(r) + "\n" for r in (kept, planted)), encoding="utf-8")
    # the chat transcript of the new task comes in the same delivery, keyed by its ContactId alone
    transcript = settings.landing / TENANT / "transcripts" / "next-export" / "task-0000-names-erased_chat.json"
    transcript.parent.mkdir(parents=True)
    stamp = str(template["InitiationTimestamp"])
    transcript.write_text(json.dumps({"ContactId": "task-0000-names-erased", "Transcript": [
        {"ParticipantRole": "CUSTOMER", "Content": "I am moving to 4 Elm Row next week.", "AbsoluteTime": stamp},
    ]}), encoding="utf-8")

    summary = run_ingest(settings, landing=settings.landing)

    assert sum(s.tombstoned for s in summary.sources) >= 1
    assert query_rows(settings, "select contact_id from raw.contact_records "
                                "where contact_id in ('kept-0000-other-customer', 'task-0000-names-erased')"
                      ) == [("kept-0000-other-customer",)]
    text = new_file.read_text(encoding="utf-8")
    assert crm_id not in text and "task-0000-names-erased" not in text
    assert "kept-0000-other-customer" in text
    assert query_rows(settings, "select count(*) from raw.transcripts where contact_id = 'task-0000-names-erased'"
                      ) == [(0,)], "the dropped task's transcript was loaded"
    assert not transcript.exists(), "the dropped task's transcript was left in the landing zone"


def test_what_was_loaded_before_a_dropped_record_named_its_person_is_purged(built: Path, tmp_path: Path) -> None:
    """The transcript and the recording of a new TASK, and a first version of its contact record naming nobody,
    arrive one run before the version that names the erased contact by crmContactId. The first run loads them:
    nothing links them to anyone yet. The second run drops the new version and tombstones its ContactId; the next
    purge then deletes the record, the transcript and the recording, rows and files, which would otherwise stay
    (unresolved, under retention) with what the person said."""
    from lethe.dsr import SubjectRef, erase_subject
    from lethe.ingest import run_ingest
    from lethe.purge import run_purge

    settings = generated_home.copy(built, tmp_path / "h")
    _, crm_id, _ = _task_naming_a_contact(settings)
    erase_subject(settings, TENANT, SubjectRef(contact_id=crm_id))

    task = "task-0001-transcript-first"
    records = settings.landing / TENANT / "contact_records"
    template = json.loads(next(line for f in sorted(records.rglob("*.jsonl"))
                               for line in f.read_text(encoding="utf-8").splitlines() if line.strip()))
    stamp = str(template["InitiationTimestamp"])
    transcript = settings.landing / TENANT / "transcripts" / "run-1" / f"{task}_chat.json"
    transcript.parent.mkdir(parents=True)
    transcript.write_text(json.dumps({"ContactId": task, "Transcript": [
        {"ParticipantRole": "CUSTOMER", "Content": "My new number is on the form.", "AbsoluteTime": stamp},
    ]}), encoding="utf-8")
    wav = next((settings.landing / TENANT / "recordings").rglob("*.wav"))
    recording = settings.landing / TENANT / "recordings" / "2026" / "11" / "30" / f"{task}_20261130T0900_UTC.wav"
    recording.parent.mkdir(parents=True, exist_ok=True)
    recording.write_bytes(wav.read_bytes())
    # and a first version of the record that does not name the customer yet
    first = records / "run-1" / "records.jsonl"
    first.parent.mkdir(parents=True)
    first.write_text(json.dumps({**template, "ContactId": task, "Channel": "TASK", "CustomerEndpoint": None,
                                 "Attributes": {}, "LastUpdateTimestamp": stamp}) + "\n", encoding="utf-8")
    run_ingest(settings, landing=settings.landing)
    assert query_rows(settings, f"select count(*) from raw.transcripts where contact_id = '{task}'") == [(1,)]
    assert query_rows(settings, f"select count(*) from raw.contact_records where contact_id = '{task}'") == [(1,)]
    assert query_rows(settings, "select count(*) from raw.recordings where recording_path like $1",
                      [f"%{task}_%"]) == [(1,)]

    delivery = records / "run-2" / "records.jsonl"
    delivery.parent.mkdir(parents=True)
    delivery.write_text(json.dumps({**template, "ContactId": task, "Channel": "TASK", "CustomerEndpoint": None,
                                    "Attributes": {"crmContactId": crm_id}}) + "\n", encoding="utf-8")
    summary = run_ingest(settings, landing=settings.landing)
    assert sum(s.tombstoned for s in summary.sources) >= 1
    assert not delivery.exists() or task not in delivery.read_text(encoding="utf-8")

    # the pipeline's next retention purge; this small home's transcripts are all due at its as-of (the guard's
    # 95% would refuse that, rightly, so the test lets the whole table go)
    policy = settings.tenants_file.read_text(encoding="utf-8")
    settings.tenants_file.write_text(policy.replace("purge_max_share: 0.95", "purge_max_share: 1.0"), encoding="utf-8")
    result = run_purge(settings, dry_run=False)

    assert any(t == TENANT and tb == "raw.transcripts" and n >= 1 for t, _, tb, _, n in result.counts), result.counts
    assert query_rows(settings, f"select count(*) from raw.contact_records where contact_id = '{task}'") == [(0,)]
    assert query_rows(settings, f"select count(*) from raw.transcripts where contact_id = '{task}'") == [(0,)]
    assert query_rows(settings, "select count(*) from raw.recordings where recording_path like $1",
                      [f"%{task}_%"]) == [(0,)]
    assert not transcript.exists(), "the transcript file outlived its tombstoned contact"
    assert not recording.exists(), "the recording outlived its tombstoned contact"
    assert grep_home(settings.landing / TENANT, [task]) == []
