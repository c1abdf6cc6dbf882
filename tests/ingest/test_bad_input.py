"""Bad deliveries: each is quarantined with its reason, and the good rows of the same batch still load.

One landing zone holds every bad file next to the good ones; it is ingested once.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime

import pytest
from ingest_helpers import TENANT, fresh_home, query

from lethe import tombstones
from lethe.ingest import run_ingest
from lethe.keys import keyed_hash
from lethe.warehouse import connect

T = TENANT


def _ctr(cid: str, **over) -> str:
    rec = {
        "ContactId": cid, "Channel": "VOICE", "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2024-01-20T09:00:00Z", "DisconnectTimestamp": "2024-01-20T09:05:00Z",
        "LastUpdateTimestamp": "2024-01-20T09:06:00Z",
        "CustomerEndpoint": {"Address": "+44 7700 900777", "Type": "TELEPHONE_NUMBER"},
        "Agent": {"Username": "agent.lee"}, "Queue": {"Name": "Billing"}, "Attributes": {},
    }
    for k, v in over.items():
        if v is None:
            rec.pop(k, None)
        else:
            rec[k] = v
    return json.dumps(rec)


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    settings, land = fresh_home(tmp_path_factory, "bad")
    t = land / T
    # contact records: one file with a malformed line, a missing required field, a wrong type, a bad enum,
    # an unparseable phone and a timestamp in the future between good lines
    (t / "contact_records" / "bad-lines.jsonl").write_text("\n".join([
        _ctr("c-1001"),
        '{"ContactId": "c-1002", "Channel": ',
        _ctr("c-1003", InitiationTimestamp=None),
        _ctr("c-1004", LastUpdateTimestamp=12345),
        _ctr("c-1005", Channel="CARRIER_PIGEON"),
        _ctr("c-1006", CustomerEndpoint={"Address": "call 0800 after six", "Type": "TELEPHONE_NUMBER"}),
        _ctr("c-1007", InitiationTimestamp="2999-01-01T00:00:00Z"),
        _ctr("c-1008"),
        _ctr("c-1009", CustomerEndpoint={"Address": "anonymous", "Type": "TELEPHONE_NUMBER"}),  # a withheld number
    ]) + "\n")
    (t / "contact_records" / "truncated.jsonl.gz").write_bytes(gzip.compress(((_ctr("c-1100") + "\n") * 50).encode())[:40])
    # a line written in Latin-1 between two in UTF-8
    (t / "contact_records" / "latin1.jsonl").write_bytes(b"\n".join([
        _ctr("c-1199").replace("Billing", "Caf\xe9").encode(), _ctr("c-1200").replace("Billing", "Caf\xe9").encode("latin-1"),
        _ctr("c-1201").encode()]) + b"\n")
    # email events: an array never closed, an invalid email next to good events
    (t / "email_events" / "unclosed.json").write_text('[{"email":"x@example.com","timestamp":1705312800,"event":"open","sg_event_id":"ev-9001"},')
    (t / "email_events" / "bad-email.json").write_text(json.dumps([
        {"email": "not-an-email", "timestamp": 1705312800, "event": "open", "sg_event_id": "ev-9101"},
        {"email": "Dave@Example.com", "timestamp": 1705312801, "event": "open", "sg_event_id": "ev-9102"},
    ]))
    # transcripts: not JSON at all; a 10 MB message next to a normal one
    (t / "transcripts" / "garbage.json").write_text("this is not json")
    (t / "transcripts" / "huge.json").write_text(json.dumps({"ContactId": "c-0002x", "Transcript": [
        {"ParticipantRole": "CUSTOMER", "Content": "x" * (10 * 1024 * 1024), "AbsoluteTime": "2024-01-11T10:00:00Z"},
        {"ParticipantRole": "AGENT", "Content": "Thanks", "AbsoluteTime": "2024-01-11T10:00:09Z"},
    ]}))
    # JSON of the wrong shape: transcripts without their Transcript array of messages (one small, one large enough
    # for the fast path), a chat with no messages (nothing to load, nothing wrong), a webhook post of one object
    (t / "transcripts" / "no-messages.json").write_text(json.dumps({"ContactId": "c-0004x"}))
    (t / "transcripts" / "messages-not-a-list.json").write_text(json.dumps(
        {"ContactId": "c-0005x", "Participants": [{"ParticipantRole": "AGENT"}] * 200, "Transcript": {"Content": "Hi"}}))
    (t / "transcripts" / "empty-chat.json").write_text(json.dumps({"ContactId": "c-0006x", "Transcript": []}))
    (t / "email_events" / "one-object.json").write_text(
        json.dumps({"email": "x@example.com", "timestamp": 1705312800, "event": "open", "sg_event_id": "ev-9201"}))
    # CSVs: empty file, wrong header, non-UTF-8, ragged row, out-of-range and wrong-type scores
    (t / "campaigns" / "empty.csv").write_bytes(b"")
    (t / "campaigns" / "pigeons.csv").write_text(
        "campaign_id,name,channel,purpose,started_at\ncamp-9,Pigeon post,pigeon,Marketing,2024-01-01T00:00:00Z\n"
        "camp-10,Spring,sms,Marketing,2024-04-01T00:00:00Z\n"
    )
    (t / "crm" / "contacts" / "wrong-header.csv").write_text("Name,Mail\nAnn,ann@example.com\n")
    (t / "crm" / "contacts" / "phones.csv").write_text(
        "Id,LastModifiedDate,Phone,Email\n003A000009,2024-01-01T00:00:00Z,ext. 4411 ask for Jo,eve@example.com\n"
        "003A000010,2024-01-01T00:00:00Z,+1 (415) 555-2671,frank@example.com\n"
        "003A000011,2024-01-01T00:00:00Z,n/a,gina@example.com\n"
    )
    (t / "crm" / "purposes" / "latin1.csv").write_bytes("Id,Name,Description\n0ZVA9,Caf\xe9,x\n".encode("latin-1"))
    (t / "crm" / "purposes" / "unclosed-quote.csv").write_text('Id,Name,Description\n0ZVA8,"Unclosed quote,x\n')
    # a ragged row (too many fields), a quoted newline, a short row: the ragged rows alone are quarantined
    (t / "campaigns" / "ragged-rows.csv").write_text(
        "campaign_id,name,channel,purpose,started_at\n"
        "camp-20,Autumn,email,Marketing,2024-01-05T00:00:00Z\n"
        "camp-21,Autumn, with a comma,email,Marketing,2024-01-05T00:00:00Z\n"
        'camp-22,"Two\nlines",sms,Marketing,2024-01-06T00:00:00Z\n'
        "\n"
        "camp-23,Short,email\n"
        "camp-24,Last,phone,Marketing,2024-01-07T00:00:00Z\n"
    )
    # timestamps shaped right but no such instant (month 13, day 32, 30 February), next to valid ones
    (t / "crm" / "dsr_requests" / "bad-dates.csv").write_text(
        "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details\n"
        "dsr-20,2026-13-05T10:00:00Z,access,,p@example.com,,,\n"
        "dsr-21,2024-01-20T00:00:00Z,access,,q@example.com,,2024-01-32T00:00:00Z,\n"
        "dsr-22,2024-01-21T00:00:00Z,access,,r@example.com,,,\n"
        "dsr-23,2024-01-22T09:30Z,access,,s@example.com,,2024-01-23T10:00:00+01:00,\n"
    )
    (t / "transcripts" / "bad-time.json").write_text(json.dumps({"ContactId": "c-0003x", "Transcript": [
        {"ParticipantRole": "CUSTOMER", "Content": "Hello", "AbsoluteTime": "2024-02-30T10:00:00Z"},
        {"ParticipantRole": "AGENT", "Content": "Hi", "AbsoluteTime": "2024-01-12T10:00:05Z"},
    ]}))
    (t / "crm" / "dsr_requests" / "future.csv").write_text(
        "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details\n"
        "dsr-9,2999-01-01T00:00:00Z,access,,x@example.com,,,\ndsr-10,2024-01-20T00:00:00Z,objection,,y@example.com,,,\n"
    )
    (land / "_centre" / "agents" / "scores.csv").write_text(
        "agent_username,tenant_id,training_completed_at,exam_score\nagent.kim,acme-energy,2023-01-01T00:00:00Z,ninety\n"
        "agent.max,acme-energy,2023-01-01T00:00:00Z,150\nagent.ola,acme-energy,2023-01-01T00:00:00Z,91\n"
    )
    summary = run_ingest(settings, land)
    return settings, summary


def _row_reason(settings, file: str, row: int) -> tuple[str, str]:
    rows = query(settings, "select rule, reason from quarantine.rows where source_file = ? and source_row = ?", [f"{T}/{file}", row])
    assert len(rows) == 1, rows
    return rows[0]


def _file_reason(settings, file: str) -> str:
    rows = query(settings, "select reason from quarantine.files where source_file = ?", [file if file.startswith("_") else f"{T}/{file}"])
    assert len(rows) == 1, rows
    return rows[0][0]


def _ids(settings, table: str, col: str) -> set:
    return {v for (v,) in query(settings, f"select {col} from raw.{table}")}


def test_malformed_json_line(bad):
    settings, _ = bad
    assert _row_reason(settings, "contact_records/bad-lines.jsonl", 2) == ("parse", "malformed JSON line")
    assert {"c-1001", "c-1008"} <= _ids(settings, "contact_records", "contact_id")


def test_missing_required_field(bad):
    settings, _ = bad
    rule, reason = _row_reason(settings, "contact_records/bad-lines.jsonl", 3)
    assert rule == "required:initiation_timestamp" and "InitiationTimestamp" in reason
    assert "c-1003" not in _ids(settings, "contact_records", "contact_id")
    assert "c-1001" in _ids(settings, "contact_records", "contact_id")


def test_wrong_type(bad):
    settings, _ = bad
    assert _row_reason(settings, "contact_records/bad-lines.jsonl", 4) == (
        "type:last_update_timestamp", "last_update_timestamp (LastUpdateTimestamp) is not a valid timestamp")
    rule, reason = query(settings, "select rule, reason from quarantine.rows where source_file = '_centre/agents/scores.csv' and source_row = 1")[0]
    assert rule == "type:exam_score" and "not a valid integer" in reason
    assert "agent.ola" in _ids(settings, "agents", "agent_username")


def test_out_of_range_value(bad):
    settings, _ = bad
    rule, _ = query(settings, "select rule, reason from quarantine.rows where source_file = '_centre/agents/scores.csv' and source_row = 2")[0]
    assert rule == "range:exam_score"
    assert {"agent.jones", "agent.ola"} <= _ids(settings, "agents", "agent_username")


def test_unknown_enum_value(bad):
    settings, _ = bad
    assert _row_reason(settings, "contact_records/bad-lines.jsonl", 5)[0] == "enum:channel"
    rule, reason = _row_reason(settings, "campaigns/pigeons.csv", 1)
    assert rule == "enum:channel" and "email, sms, phone" in reason
    assert {"camp-1", "camp-2", "camp-10"} <= _ids(settings, "campaigns", "campaign_id")


def test_unparseable_phone(bad):
    settings, _ = bad
    assert _row_reason(settings, "contact_records/bad-lines.jsonl", 6)[0] == "address:customer_address"
    # words around digits are no number (phonenumbers alone reads letters as keypad digits and invents one)
    rule, reason = _row_reason(settings, "crm/contacts/phones.csv", 1)
    assert rule == "phone:phone" and "E.164" in reason
    assert query(settings, "select phone from raw.crm_contacts where id = '003A000010'") == [("+14155552671",)]


def test_a_phone_field_saying_there_is_none_loads_the_record_without_a_phone(bad):
    """'n/a' in a contact's Phone, or a withheld caller's 'anonymous', is no bad number: the record (its opt-outs,
    the call under retention) loads, with no phone."""
    settings, _ = bad
    assert query(settings, "select phone, email from raw.crm_contacts where id = '003A000011'") == [(None, "gina@example.com")]
    assert query(settings, "select customer_address from raw.contact_records where contact_id = 'c-1009'") == [(None,)]
    assert query(settings, "select count(*) from quarantine.rows where source_file like '%phones.csv' and source_row = 3 "
                 "or source_file like '%bad-lines.jsonl' and source_row = 9") == [(0,)]


def test_timestamp_in_the_future(bad):
    settings, _ = bad
    assert _row_reason(settings, "contact_records/bad-lines.jsonl", 7)[0] == "future:initiation_timestamp"
    assert _row_reason(settings, "crm/dsr_requests/future.csv", 1)[0] == "future:received_at"
    assert {"dsr-1", "dsr-2", "dsr-10"} <= _ids(settings, "dsr_requests", "request_id")


def test_a_consent_effective_until_a_future_date_and_a_planned_campaign_load(settings, landing):
    """A consent's EffectiveTo of next year, and a campaign planned for next month, were quarantined as 'in the
    future', so the person had no consent at all: their mails were reported as sent without consent and they left
    every audience. A capture date in the future is still impossible and still quarantined."""
    head = ("Id,PartyId,ContactPointType,DataUsePurposeId,PrivacyConsentStatus,CaptureDate,CaptureSource,"
            "DoubleConsentCaptureDate,EffectiveFrom,EffectiveTo,LastModifiedDate,Capture_Method__c,Notice_Version__c\n")
    (landing / TENANT / "crm" / "consents" / "terms.csv").write_text(
        head + "0ZWF1,0PKA000001,Email,0ZVA000001,OptIn,2023-01-01T00:00:00Z,web form,,2023-01-01T00:00:00Z,"
               "2099-01-01T00:00:00Z,2023-01-01T00:00:00Z,explicit_opt_in,v3\n"
               "0ZWF2,0PKA000001,Email,0ZVA000001,OptIn,2099-01-01T00:00:00Z,web form,,2023-01-01T00:00:00Z,"
               ",2023-01-01T00:00:00Z,explicit_opt_in,v3\n")
    (landing / TENANT / "campaigns" / "planned.csv").write_text(
        "campaign_id,name,channel,purpose,started_at\ncamp-next,Spring,email,Marketing,2099-03-01T00:00:00Z\n")
    run_ingest(settings, landing)
    assert query(settings, "select id, cast(effective_to as varchar) from raw.crm_consents where id like '0ZWF%'") == [
        ("0ZWF1", "2099-01-01 00:00:00")]
    assert query(settings, "select count(*) from raw.campaigns where campaign_id = 'camp-next'") == [(1,)]
    assert query(settings, "select source_row, rule from quarantine.rows where source_file like '%terms.csv'") == [
        (2, "future:capture_date")]


def test_invalid_email(bad):
    settings, _ = bad
    rule, reason = _row_reason(settings, "email_events/bad-email.json", 1)
    assert rule == "email:email" and "not a valid email" in reason
    assert "ev-9102" in _ids(settings, "email_events", "sg_event_id")
    assert query(settings, "select email from raw.email_events where sg_event_id = 'ev-9102'") == [("dave@example.com",)]


def test_truncated_gzip(bad):
    settings, _ = bad
    assert "truncated or corrupt gzip" in _file_reason(settings, "contact_records/truncated.jsonl.gz")
    assert {"c-0001", "c-0004"} <= _ids(settings, "contact_records", "contact_id")  # the good .gz loads


def test_non_utf8_bytes(bad):
    settings, _ = bad
    # a JSON Lines file loses only its line that is not UTF-8: each line is a record of its own
    assert _row_reason(settings, "contact_records/latin1.jsonl", 2) == ("parse", "line is not UTF-8 (bytes that are no character)")
    assert query(settings, "select contact_id, queue_name from raw.contact_records "
                 "where contact_id in ('c-1199', 'c-1200', 'c-1201') order by 1") == [("c-1199", "Caf\xe9"), ("c-1201", "Billing")]
    assert query(settings, "select count(*) from quarantine.files where source_file like '%latin1.jsonl'") == [(0,)]
    assert _file_reason(settings, "crm/purposes/latin1.csv").startswith("not UTF-8")
    assert {"0ZVA000001", "0ZVA000002"} == _ids(settings, "crm_purposes", "id")


def test_json_array_never_closed(bad):
    settings, _ = bad
    assert "never closed" in _file_reason(settings, "email_events/unclosed.json")
    assert "ev-9001" not in _ids(settings, "email_events", "sg_event_id")
    assert {"ev-0001", "ev-0006"} <= _ids(settings, "email_events", "sg_event_id")


def test_not_json_at_all(bad):
    settings, _ = bad
    assert "not a valid JSON object" in _file_reason(settings, "transcripts/garbage.json")
    assert "c-0002" in _ids(settings, "transcripts", "contact_id")


def test_json_of_the_wrong_shape_is_refused_saying_what_it_holds(bad):
    """Valid JSON but not what the source sends: refused as a file with what was found, not reported as
    malformed, and not counted as read and loaded as nothing."""
    settings, _ = bad
    assert _file_reason(settings, "email_events/one-object.json") == "not an array of events: the file holds a JSON object"
    for name in ("no-messages", "messages-not-a-list"):
        assert _file_reason(settings, f"transcripts/{name}.json") == "no Transcript array of messages: not a chat transcript"
    # a chat without messages is not refused: there is nothing in it to load
    assert not query(settings, "select * from quarantine.files where source_file like '%empty-chat%'")
    assert "ev-9201" not in _ids(settings, "email_events", "sg_event_id")


def test_empty_file(bad):
    settings, _ = bad
    assert _file_reason(settings, "campaigns/empty.csv") == "empty file"
    assert {"camp-1", "camp-2"} <= _ids(settings, "campaigns", "campaign_id")


def test_wrong_csv_header(bad):
    settings, _ = bad
    reason = _file_reason(settings, "crm/contacts/wrong-header.csv")
    assert reason.startswith("wrong CSV header: missing required column(s) Id, LastModifiedDate")
    assert {"003A000001", "003A000002", "003A000003", "003A000010", "003A000011"} == _ids(settings, "crm_contacts", "id")


def test_csv_with_broken_quoting_is_quarantined_whole(bad):
    settings, _ = bad
    # says where and what, in words, and never quotes the line (a quarantine reason holds no personal data)
    assert _file_reason(settings, "crm/purposes/unclosed-quote.csv") == (
        "not a valid CSV file (line 2: value with unterminated quote found)")
    assert "0ZVA000001" in _ids(settings, "crm_purposes", "id")


def test_ragged_csv_row_is_quarantined_alone(bad):
    settings, _ = bad
    file = "campaigns/ragged-rows.csv"
    assert _row_reason(settings, file, 2) == ("parse", "row has 6 fields, header has 5")
    assert _row_reason(settings, file, 4) == ("parse", "row has 3 fields, header has 5")
    assert query(settings, "select count(*) from quarantine.files where source_file = ?", [f"{T}/{file}"]) == [(0,)]
    # the other rows load, at their positions in the file (a quoted newline is one row, a blank line none)
    assert query(settings, "select campaign_id, name, _source_row from raw.campaigns where _source_file = ? "
                 "order by _source_row", [f"{T}/{file}"]) == [
        ("camp-20", "Autumn", 1), ("camp-22", "Two\nlines", 3), ("camp-24", "Last", 5)]
    assert query(settings, "select status, rows_loaded, rows_quarantined from lethe_meta.manifest where path = ?",
                 [f"{T}/{file}"]) == [("loaded", 3, 2)]
    (record,) = query(settings, "select record from quarantine.rows where source_file = ? and source_row = 2", [f"{T}/{file}"])[0]
    assert json.loads(record)["campaign_id"] == "camp-21"  # the quarantined record keeps the row's fields


def test_invalid_timestamp_is_quarantined_not_nulled(bad):
    settings, _ = bad
    file = "crm/dsr_requests/bad-dates.csv"
    rule, reason = _row_reason(settings, file, 1)
    assert rule == "value:received_at" and reason.startswith("received_at is not a valid timestamp")
    rule, reason = _row_reason(settings, file, 2)
    assert rule == "value:verified_at" and reason.startswith("verified_at is not a valid timestamp")
    rule, reason = _row_reason(settings, "transcripts/bad-time.json", 1)
    assert rule == "value:absolute_time" and "absolute_time" in reason
    assert query(settings, "select message_index, content from raw.transcripts where contact_id = 'c-0003x'") == [(1, "Hi")]
    assert not {"dsr-20", "dsr-21"} & _ids(settings, "dsr_requests", "request_id")
    # an empty optional timestamp stays NULL; a valid one without seconds, or with an offset, loads
    assert query(settings, "select request_id, received_at, verified_at from raw.dsr_requests "
                 "where request_id in ('dsr-22', 'dsr-23') order by 1") == [
        ("dsr-22", datetime(2024, 1, 21), None),
        ("dsr-23", datetime(2024, 1, 22, 9, 30), datetime(2024, 1, 23, 9, 0)),
    ]
    # the Great Expectations suite counts the same rows as the set-based rule
    assert query(settings, "select success, unexpected_count, sql_unexpected_count from lethe_meta.validation_results "
                 "where dataset = 'dsr_requests' and rule = 'value:verified_at' and not success") == [(False, 1, 1)]


def test_ten_megabyte_field(bad):
    settings, _ = bad
    rule, reason = _row_reason(settings, "transcripts/huge.json", 1)
    assert rule == "length:content" and "longer than 1 MB" in reason
    (length,) = query(settings, f"select length(record) from quarantine.rows where source_file = '{T}/transcripts/huge.json'")[0]
    assert length <= 16_384  # the record is truncated in quarantine
    assert query(settings, "select message_index, content from raw.transcripts where contact_id = 'c-0002x'") == [(1, "Thanks")]


def test_duplicate_id_across_files_is_redelivery_not_error(bad):
    settings, summary = bad
    assert query(settings, "select count(*) from quarantine.rows where record like '%ev-0005%'") == [(0,)]
    assert query(settings, "select count(*) from raw.email_events where sg_event_id = 'ev-0005'") == [(1,)]
    assert {s.dataset: s for s in summary.sources}["email_events"].duplicates_skipped == 1


def test_csv_quoted_newline_loads(bad):
    settings, _ = bad
    assert query(settings, "select details from raw.dsr_requests where request_id = 'dsr-1'") == [
        ("Please send everything,\nincluding call recordings",)
    ]


def test_summary_names_every_problem(bad):
    _, summary = bad
    text = summary.render()
    assert "quarantined:" in text and "wrong CSV header" in text and "malformed JSON line" in text
    by = {(s.tenant, s.dataset): s for s in summary.sources}
    assert by[(T, "contact_records")].quarantined_rows == 7  # six in bad-lines.jsonl, the Latin-1 line
    assert by[(T, "contact_records")].quarantined_files == 1  # the truncated .gz


def test_gx_results_agree_with_set_based_rules(bad):
    settings, _ = bad
    rows = query(settings, "select dataset, rule, success, unexpected_count, sql_unexpected_count from lethe_meta.validation_results")
    assert rows, "every batch stores its validation results"
    assert [r for r in rows if r[3] != r[4]] == []
    failed = {(d, r) for d, r, ok, _, _ in rows if not ok}
    assert ("contact_records", "enum:channel") in failed and ("agents", "range:exam_score") in failed


def test_manifest_records_quarantined_files(bad):
    settings, _ = bad
    status = dict(query(settings, "select path, status from lethe_meta.manifest where path like '%truncated%' or path like '%bad-lines%'"))
    assert status == {f"{T}/contact_records/truncated.jsonl.gz": "quarantined", f"{T}/contact_records/bad-lines.jsonl": "loaded"}


def test_ragged_csv_with_an_erased_subject_is_scrubbed_row_by_row(settings, landing):
    """A re-delivered record of an erased subject in a file with a ragged row: the record leaves the file, the
    ragged row stays in it byte for byte (quarantined), the good row loads, at its new position."""
    con = connect(settings)
    tombstones.ensure(con)
    con.execute("insert into lethe_meta.tombstones values (?, 'email', ?, now()::timestamp, 'run-1')",
                [T, keyed_hash(settings.secret_key, T, "email", "gone@example.com")])
    con.close()
    path = landing / T / "crm" / "contacts" / "ragged-erased.csv"
    ragged_row = '003A000021,2024-01-01T00:00:00Z,"Ann, the second",x@example.com,extra\r\n'
    path.write_bytes(("\ufeffId,LastModifiedDate,FirstName,Email\r\n"
                      "003A000020,2024-01-01T00:00:00Z,Gone,Gone@Example.com\r\n"
                      + ragged_row
                      + "003A000022,2024-01-01T00:00:00Z,Kept,kept@example.com\r\n").encode())
    summary = run_ingest(settings, landing, families=["crm"])
    assert {s.dataset: s for s in summary.sources}["crm_contacts"].tombstoned == 1
    assert path.read_bytes() == ("\ufeffId,LastModifiedDate,FirstName,Email\r\n" + ragged_row
                                 + "003A000022,2024-01-01T00:00:00Z,Kept,kept@example.com\r\n").encode()
    rel = f"{T}/crm/contacts/ragged-erased.csv"
    assert query(settings, "select source_row, reason from quarantine.rows where source_file = ?", [rel]) == [
        (1, "row has 5 fields, header has 4")]
    assert query(settings, "select id, _source_row from raw.crm_contacts where _source_file = ?", [rel]) == [
        ("003A000022", 2)]
