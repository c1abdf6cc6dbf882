"""Parsing and normalisation of every real source format, with the quirks real deliveries have."""

from __future__ import annotations

import pytest
from ingest_helpers import TENANT, copy_landing, make_settings, query

from lethe.ingest import FAMILIES, discover_tenants, run_ingest


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The hand-written landing zone (one tenant plus _centre), ingested once."""
    root = tmp_path_factory.mktemp("formats")
    settings = make_settings(root / "home")
    landing = copy_landing(root / "landing")
    summary = run_ingest(settings, landing)
    return settings, summary


def test_tenants_are_folders_except_centre(landing):
    assert discover_tenants(landing) == [TENANT]
    assert set(FAMILIES) == {"contact_records", "transcripts", "recordings", "email_events", "campaigns", "crm", "centre"}


def test_every_dataset_loads_without_quarantine(loaded):
    settings, summary = loaded
    by = {(s.tenant, s.dataset): s for s in summary.sources}
    assert by[(TENANT, "crm_contacts")].loaded == 3
    assert by[("_centre", "agents")].loaded == 2
    assert summary.quarantined_rows == 0 and summary.quarantined_files == 0
    assert "crm_contacts" in summary.render() and summary.to_dict()["totals"]["loaded"] == summary.loaded


def test_salesforce_csv_with_bom_and_quoted_newline(loaded):
    settings, _ = loaded
    rows = query(settings, "select id, mailing_street, birthdate::varchar, has_opted_out_of_email from raw.crm_contacts order by id")
    assert rows[0] == ("003A000001", "1 High St\r\nFlat 2", "1980-05-17", False)  # BOM did not leak into "Id"
    assert rows[1][3] is True


def test_phones_become_e164_with_the_contacts_country(loaded):
    settings, _ = loaded
    rows = dict(query(settings, "select id, phone from raw.crm_contacts"))
    assert rows == {"003A000001": "+442079460018", "003A000002": "+441632960001", "003A000003": "+35312345678"}
    ctr = dict(query(settings, "select contact_id, customer_address from raw.contact_records"))
    assert ctr["c-0003"] == "+442079460999"  # national format, tenant's country (GB)
    assert ctr["c-0002"] == "ann.smith@example.com"  # email endpoint lower-cased


def test_emails_lower_case(loaded):
    settings, _ = loaded
    emails = {e for (e,) in query(settings, "select email from raw.email_events")}
    assert emails == {"ann.smith@example.com", "bob@example.org", "carol@example.net"}
    assert query(settings, "select email from raw.crm_contacts where id = '003A000002'") == [("bob@example.org",)]


def test_redelivered_contact_record_latest_update_wins(loaded):
    settings, summary = loaded
    rows = query(settings, "select queue_name, last_update_timestamp::varchar, _source_file from raw.contact_records where contact_id = 'c-0001'")
    assert rows == [("Complaints", "2024-01-10 12:00:00", f"{TENANT}/contact_records/2024/01/ctr-0002.jsonl.gz")]
    by = {s.dataset: s for s in summary.sources}
    assert by["contact_records"].duplicates_skipped == 1


def test_category_string_or_array_and_repeated_event_id(loaded):
    settings, summary = loaded
    cats = dict(query(settings, "select sg_event_id, categories from raw.email_events"))
    assert cats["ev-0001"] == ["winter-offers"]
    assert cats["ev-0002"] == ["winter-offers", "newsletter"]
    assert cats["ev-0004"] is None and cats["ev-0006"] == []
    assert query(settings, "select count(*), min(_source_file) from raw.email_events where sg_event_id = 'ev-0005'") == [
        (1, f"{TENANT}/email_events/2024-01-15.json")
    ]
    assert {s.dataset: s for s in summary.sources}["email_events"].duplicates_skipped == 1


def test_unix_seconds_and_nested_fields_flattened(loaded):
    settings, _ = loaded
    assert query(settings, "select event_at::varchar, asm_group_id from raw.email_events where sg_event_id = 'ev-0005'") == [
        ("2024-01-15 12:00:00", 42)
    ]
    rec = query(settings, "select agent_username, recording_location, attributes from raw.contact_records where contact_id = 'c-0001'")
    assert rec == [("agent.jones", "recordings/2024/c-0001.wav", '{"reason":"bill query","escalated":"true"}')]


def test_transcript_flattened_one_row_per_message(loaded):
    settings, _ = loaded
    rows = query(settings, "select message_index, participant_role, _source_row from raw.transcripts order by message_index")
    assert rows == [(0, "AGENT", 1), (1, "CUSTOMER", 2), (2, "SYSTEM", 3)]


def test_recordings_inventoried_and_load_metadata_kept(loaded):
    settings, _ = loaded
    assert query(settings, "select recording_path, size_bytes from raw.recordings") == [("recordings/2024/c-0001.wav", 44)]
    meta = query(settings, "select count(*) from raw.campaigns where _batch_id is null or _loaded_at is null or _source_row is null")
    assert meta == [(0,)]
    status = query(settings, "select status, count(*) from lethe_meta.manifest group by 1")
    assert status == [("loaded", 15)]
