"""`lethe generate`: formats, quirks, scenarios and the withdrawal signal, asserted on generated files."""

from __future__ import annotations

import hashlib
import json
import re
import wave
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import phonenumbers
import pytest
from synth_files import TENANTS, ctr_records, email_events, files, read_csv, read_text

from lethe.errors import ConfigError
from lethe.policy import load_policy
from lethe.synth import generate

CONTRACT_GLOBS = {
    "contact_records": "contact_records/**/*.jsonl",
    "transcripts": "transcripts/**/*.json",
    "recordings": "recordings/**/*.wav",
    "email_events": "email_events/**/*.json",
    "campaigns": "campaigns/**/*.csv",
    "crm_contacts": "crm/contacts/**/*.csv",
    "crm_individuals": "crm/individuals/**/*.csv",
    "crm_consents": "crm/consents/**/*.csv",
    "crm_purposes": "crm/purposes/**/*.csv",
    "dsr_requests": "crm/dsr_requests/**/*.csv",
    "legal_holds": "crm/legal_holds/**/*.csv",
}
SALESFORCE_COLUMNS = {
    "crm/contacts": ["Id", "IndividualId", "FirstName", "LastName", "Email", "Phone", "MobilePhone", "MailingStreet",
                     "MailingCity", "MailingPostalCode", "MailingCountry", "Birthdate", "HasOptedOutOfEmail",
                     "DoNotCall", "CreatedDate", "LastModifiedDate", "LastActivityDate", "Customer_Status__c",
                     "Contract_End_Date__c"],
    "crm/individuals": ["Id", "HasOptedOutProcessing", "HasOptedOutProfiling", "HasOptedOutSolicit", "ShouldForget",
                        "SendIndividualData", "LastModifiedDate"],
    "crm/consents": ["Id", "PartyId", "ContactPointType", "DataUsePurposeId", "PrivacyConsentStatus", "CaptureDate",
                     "CaptureSource", "DoubleConsentCaptureDate", "EffectiveFrom", "EffectiveTo", "LastModifiedDate",
                     "Capture_Method__c", "Notice_Version__c"],
    "crm/purposes": ["Id", "Name", "Description"],
}
LETHE_HEADERS = {
    "crm/dsr_requests": "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details",
    "crm/legal_holds": "hold_id,crm_contact_id,subject_email,reason,start_date,end_date",
    "campaigns": "campaign_id,name,channel,purpose,started_at",
}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()][::-1]
    total = sum(d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(digits))
    return total % 10 == 0


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path):
    a = generate(tmp_path / "a", tenants=2, subjects=200, days=200, seed=3)
    generate(tmp_path / "b", tenants=2, subjects=200, days=200, seed=3)
    generate(tmp_path / "c", tenants=2, subjects=200, days=200, seed=4)
    first, second, other = (_digests(tmp_path / x) for x in "abc")
    assert len(first) == a.total_files + 1  # plus tenants.yml
    assert first == second
    assert first != other


def test_every_source_family_is_written_for_every_tenant(landing):
    out, summary = landing
    for tenant in TENANTS:
        for family, pattern in CONTRACT_GLOBS.items():
            assert files(out / tenant, pattern), f"{tenant}: no {family} files"
            assert summary.get(tenant, family).records > 0
    assert files(out / "_centre", "agents/**/*.csv")
    assert files(out / "_centre", "breaches/**/*.csv")
    assert "acme-energy" in summary.render() and "email_events" in summary.render()


def test_contact_records_are_ctr_json_lines_with_nested_fields(landing):
    out, _ = landing
    records = [r for _, r in ctr_records(out / "acme-energy")]
    assert len(records) > 500
    channels = {r["Channel"] for r in records}
    assert {"VOICE", "CHAT", "EMAIL", "TASK"} <= channels
    for r in records:
        assert ISO.match(r["InitiationTimestamp"]) and ISO.match(r["LastUpdateTimestamp"])
        assert r["DisconnectTimestamp"] >= r["InitiationTimestamp"]
        assert isinstance(r["Attributes"], dict) and all(isinstance(v, str) for v in r["Attributes"].values())
        assert "AWSAccountId" in r  # an unknown extra field, as in real exports
        if r["CustomerEndpoint"]:
            assert r["CustomerEndpoint"]["Type"] in {"TELEPHONE_NUMBER", "EMAIL_ADDRESS"}
    voice = [r for r in records if r["Channel"] == "VOICE" and r["Agent"]]
    assert all(r["Agent"]["Username"] and r["Queue"]["Name"] for r in voice)
    assert any(r["InitiationMethod"] == "OUTBOUND" for r in voice)


def test_recording_locations_point_at_small_valid_wav_files(landing):
    out, _ = landing
    for tenant in TENANTS:
        located = [r["Recording"]["Location"] for _, r in ctr_records(out / tenant) if r.get("Recording")]
        assert located
        for loc in set(located):
            with wave.open(str(out / tenant / loc), "rb") as w:
                assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 8000, 1)
                assert w.getnframes() == 1600


def test_transcripts_carry_what_customers_really_say(landing):
    out, _ = landing
    docs = [json.loads(read_text(f)) for f in files(out / "acme-energy", "transcripts/**/*.json")]
    ctr_ids = {r["ContactId"] for _, r in ctr_records(out / "acme-energy") if r["Channel"] == "CHAT"}
    assert docs and {d["ContactId"] for d in docs} == ctr_ids
    said = [m["Content"] for d in docs for m in d["Transcript"] if m["ParticipantRole"] == "CUSTOMER"]
    assert {m["ParticipantRole"] for d in docs for m in d["Transcript"]} == {"CUSTOMER", "AGENT", "SYSTEM"}
    cards = [c for s in said for c in re.findall(r"\b(?:\d{4} ?){3}\d{4}\b", s)]
    assert cards and all(_luhn(c) for c in cards)
    assert any(s.startswith("Hi, it's ") for s in said)
    assert any(re.search(r"\d{3}.?\d{3,4}.?\d{3,4}", s) and "mobile" in s for s in said)
    assert all(ISO.match(m["AbsoluteTime"]) for d in docs for m in d["Transcript"])


def test_email_events_are_webhook_arrays_with_quirks(landing):
    out, _ = landing
    events = email_events(out / "acme-energy")
    kinds = {e["event"] for _, e in events}
    assert {"processed", "delivered", "open", "click", "bounce", "unsubscribe", "group_unsubscribe",
            "spamreport"} <= kinds
    assert all(isinstance(e["timestamp"], int) and e["sg_event_id"] and e["campaign_id"] for _, e in events)
    assert any(isinstance(e["category"], list) for _, e in events)
    assert any(isinstance(e["category"], str) for _, e in events)
    assert any("useragent" in e and "ip" in e for _, e in events)  # extra fields real webhooks send
    assert any(e["email"] != e["email"].lower() for _, e in events)
    seen: dict[str, Path] = {}
    repeated = []
    for f, e in events:
        if e["sg_event_id"] in seen and seen[e["sg_event_id"]] != f:
            repeated.append((seen[e["sg_event_id"]], f))
        seen.setdefault(e["sg_event_id"], f)
    assert repeated and all(str(a) < str(b) for a, b in repeated)


def test_a_redelivered_contact_record_has_a_later_update_in_a_later_file(landing):
    out, _ = landing
    by_id = defaultdict(list)
    for f, r in ctr_records(out / "borealis-telecom"):
        by_id[r["ContactId"]].append((f, r["LastUpdateTimestamp"]))
    again = [v for v in by_id.values() if len(v) > 1]
    assert again
    for (f1, t1), (f2, t2) in (sorted(v, key=lambda x: x[1]) for v in again):
        assert t2 > t1 and str(f2) > str(f1)


def test_csv_exports_have_the_exact_column_names(landing):
    out, _ = landing
    for tenant in TENANTS:
        for folder, required in SALESFORCE_COLUMNS.items():
            for f in files(out / tenant, f"{folder}/**/*.csv"):
                header, rows = read_csv(f)
                assert set(required) <= set(header), f
                assert rows
        for folder, header in LETHE_HEADERS.items():
            for f in files(out / tenant, f"{folder}/**/*.csv"):
                assert read_text(f).removeprefix("\ufeff").split("\r\n", 1)[0] == header, f
    agents = files(out / "_centre", "agents/**/*.csv")[0]
    assert read_text(agents).split("\r\n", 1)[0] == "agent_username,tenant_id,training_completed_at,exam_score"
    breaches = files(out / "_centre", "breaches/**/*.csv")[0]
    assert read_text(breaches).removeprefix("\ufeff").split("\r\n", 1)[0] == (
        "breach_id,tenant_id,detected_at,description,data_categories,subjects_affected,"
        "authority_notified_at,subjects_notified_at")


def test_some_files_have_a_bom_and_some_are_gzipped(landing):
    out, _ = landing
    csvs = list(out.rglob("*.csv")) + list(out.rglob("*.csv.gz"))
    assert any(read_text(f).startswith("\ufeff") for f in csvs)
    assert any(not read_text(f).startswith("\ufeff") for f in csvs)
    gz = {p.relative_to(out).parts[1] for p in out.rglob("*.gz")}
    assert {"contact_records", "email_events", "transcripts", "crm"} <= gz


def test_crm_booleans_and_phones_in_human_formats_parse_with_the_subjects_country(landing):
    out, _ = landing
    regions = {"United Kingdom": "GB", "Ireland": "IE", "Germany": "DE", "France": "FR", "Netherlands": "NL"}
    rows = [r for f in files(out / "cobalt-insurance", "crm/contacts/**/*.csv") for r in read_csv(f)[1]]
    phones = [(r[k], regions.get(r["MailingCountry"], r["MailingCountry"])) for r in rows
              for k in ("Phone", "MobilePhone") if r[k]]
    assert {r["HasOptedOutOfEmail"] for r in rows} == {"true", "false"}
    assert {r["DoNotCall"] for r in rows} == {"true", "false"}
    assert any(not p.startswith("+") for p, _ in phones)
    assert any(p.startswith("+") and " " in p for p, _ in phones)
    assert len({reg for _, reg in phones}) >= 3
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p, reg)) for p, reg in phones)
    assert all(ISO.match(r["LastModifiedDate"]) for r in rows)


def test_policy_file_loads_and_gives_each_tenant_its_own_retention(landing):
    out, _ = landing
    policy = load_policy(out / "tenants.yml")
    assert set(policy.tenants) == set(TENANTS)
    retentions = {tuple(sorted(t.retention.items())) for t in policy.tenants.values()}
    assert len(retentions) == 3
    assert all(t.controller for t in policy.tenants.values())


def test_compliance_scenarios_are_present(landing):
    out, _ = landing
    t = out / "acme-energy"
    consents = [r for f in files(t, "crm/consents/**/*.csv") for r in read_csv(f)[1]]
    assert {"explicit_opt_in", "pre_ticked_box", "implied", "verbal_recorded"} <= {r["Capture_Method__c"] for r in consents}
    assert any(r["Notice_Version__c"] == "" for r in consents) and any(r["CaptureDate"] == "" for r in consents)
    assert {"OptIn", "OptOut"} <= {r["PrivacyConsentStatus"] for r in consents}
    purposes = {r["Name"] for f in files(t, "crm/purposes/**/*.csv") for r in read_csv(f)[1]}
    assert {"Marketing", "Service updates", "Profiling"} <= purposes
    campaigns = [r for f in files(t, "campaigns/**/*.csv") for r in read_csv(f)[1]]
    assert {r["purpose"] for r in campaigns} <= purposes
    individuals = [r for f in files(t, "crm/individuals/**/*.csv") for r in read_csv(f)[1]]
    for flag in ("HasOptedOutProcessing", "HasOptedOutProfiling", "HasOptedOutSolicit", "ShouldForget"):
        assert any(r[flag] == "true" for r in individuals), flag
    dsr = [r for f in files(t, "crm/dsr_requests/**/*.csv") for r in read_csv(f)[1]]
    assert {r["type"] for r in dsr} == {"access", "erasure", "rectification", "restriction", "objection", "portability"}
    assert any(r["verified_at"] for r in dsr) and any(not r["verified_at"] for r in dsr)
    assert any(r["received_at"] < "2026-06-01" for r in dsr)  # long past any 30-day deadline
    holds = [r for f in files(t, "crm/legal_holds/**/*.csv") for r in read_csv(f)[1]]
    assert any(r["end_date"] == "" for r in holds) and any(r["end_date"] for r in holds)
    contacts = [r for f in files(t, "crm/contacts/**/*.csv") for r in read_csv(f)[1]]
    assert {"active", "former", "prospect"} == {r["Customer_Status__c"] for r in contacts}
    assert any(r["Contract_End_Date__c"] and r["Contract_End_Date__c"] < "2021-01-01" for r in contacts)
    agents = read_csv(files(out / "_centre", "agents/**/*.csv")[0])[1]
    scores = [int(a["exam_score"]) for a in agents if a["exam_score"]]
    assert min(scores) < 90 <= max(scores)
    assert any(a["training_completed_at"] and a["training_completed_at"] < "2025-11-01" for a in agents)
    breaches = read_csv(files(out / "_centre", "breaches/**/*.csv")[0])[1]
    assert {b["tenant_id"] for b in breaches} == set(TENANTS)
    delays = [(datetime.fromisoformat(b["authority_notified_at"]) - datetime.fromisoformat(b["detected_at"]))
              .total_seconds() / 3600 for b in breaches]
    assert any(d > 72 for d in delays) and any(d <= 72 for d in delays)


def test_some_subjects_are_mailed_after_withdrawing_and_some_called_despite_do_not_call(landing):
    out, _ = landing
    late, dnc_called = 0, 0
    for tenant in TENANTS:
        events = [e for _, e in email_events(out / tenant)]
        withdrew = {}
        for e in events:
            if e["event"] in {"unsubscribe", "spamreport"}:
                withdrew.setdefault(e["email"].lower(), e["timestamp"])
        late += sum(1 for e in events if e["event"] == "processed" and "marketing" in str(e["category"])
                    and e["email"].lower() in withdrew and e["timestamp"] > withdrew[e["email"].lower()])
        contacts = [r for f in files(out / tenant, "crm/contacts/**/*.csv") for r in read_csv(f)[1]]
        dnc = {r["Id"] for r in contacts if r["DoNotCall"] == "true"}
        dnc_called += sum(1 for _, r in ctr_records(out / tenant)
                          if r["InitiationMethod"] == "OUTBOUND" and r["Attributes"].get("crmContactId") in dnc)
    assert late > 0
    assert dnc_called > 0


def test_open_rates_fall_before_a_withdrawal(landing):
    out, _ = landing
    before, never = [0, 0], [0, 0]  # [deliveries, opens]
    for tenant in TENANTS:
        by_email = defaultdict(list)
        for _, e in email_events(out / tenant):
            by_email[e["email"].lower()].append(e)
        for evs in by_email.values():
            marketing = [e for e in evs if "service-updates" not in str(e["category"])]
            quits = [e["timestamp"] for e in marketing if e["event"] in {"unsubscribe", "group_unsubscribe", "spamreport"}]
            window = (min(quits) - 60 * 86400, min(quits)) if quits else None
            target = before if quits else never
            for e in marketing:
                if window and not window[0] <= e["timestamp"] < window[1]:
                    continue
                if e["event"] in {"delivered", "open"}:
                    target[e["event"] == "open"] += 1
    rate_before = before[1] / before[0]
    rate_never = never[1] / never[0]
    assert before[0] > 100
    assert rate_before < 0.7 * rate_never


def test_nothing_happens_after_the_end_instant(landing):
    out, _ = landing
    end = "2026-11-01T00:00:00Z"
    for tenant in TENANTS:
        assert max(r["LastUpdateTimestamp"] for _, r in ctr_records(out / tenant)) < end
        assert max(e["timestamp"] for _, e in email_events(out / tenant)) < 1_793_491_200
        assert max(p.name for p in (out / tenant / "email_events").rglob("*.json*")) < "webhook-20261101"
        times = [m["AbsoluteTime"] for f in files(out / tenant, "transcripts/**/*.json")
                 for m in json.loads(read_text(f))["Transcript"]]
        assert max(times) < end


def test_end_moves_the_history(tmp_path):
    generate(tmp_path / "x", tenants=1, subjects=100, days=150, seed=1, end="2025-06-30T12:00:00Z")
    names = sorted(p.name for p in (tmp_path / "x" / "acme-energy" / "contact_records").rglob("*.jsonl*"))
    assert names[-1] <= "2025-06-30.jsonl.gz" and names[0] >= "2025-01-31"


def test_refuses_to_write_into_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not an empty folder"):
        generate(tmp_path, subjects=100)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_bad_end_instant_is_a_user_error(tmp_path):
    with pytest.raises(ConfigError, match="ISO 8601"):
        generate(tmp_path / "x", subjects=100, end="next tuesday")


def test_cli_generate_prints_the_summary_table(tmp_path, capsys):
    from lethe.cli import main

    assert main(["generate", "--out", str(tmp_path / "z"), "--tenants", "4", "--subjects", "200", "--days", "150"]) == 0
    printed = capsys.readouterr().out
    assert "delta-water" in printed and "contact_records" in printed
    assert set(load_policy(tmp_path / "z" / "tenants.yml").tenants) == {*TENANTS, "delta-water"}


def test_cli_generate_ends_the_history_at_lethe_as_of_unless_the_flag_says_otherwise(tmp_path, monkeypatch, capsys):
    """Every command judges at LETHE_AS_OF; generate wrote history up to its fixed default instead, so a home set
    up with LETHE_AS_OF=2025-06-30 held records months in its future."""
    from lethe.cli import main

    def last_day(out):
        return max(p.name for p in (out / "acme-energy" / "contact_records").rglob("*.jsonl*"))[:10]

    base = ["generate", "--tenants", "1", "--subjects", "100", "--days", "150", "--seed", "1"]
    monkeypatch.setenv("LETHE_AS_OF", "2025-06-30T12:00:00Z")
    assert main([*base, "--out", str(tmp_path / "env")]) == 0
    assert "2025-06-2" in last_day(tmp_path / "env") or last_day(tmp_path / "env") == "2025-06-30"
    assert main([*base, "--out", str(tmp_path / "flag"), "--as-of", "2025-03-31T00:00:00Z"]) == 0
    assert last_day(tmp_path / "flag") < "2025-04-01" and last_day(tmp_path / "flag") >= "2025-03-2"
    monkeypatch.setenv("LETHE_AS_OF", "soon")
    assert main([*base, "--out", str(tmp_path / "bad")]) == 1
    assert capsys.readouterr().err.strip() == "lethe: LETHE_AS_OF: 'soon' is not an ISO 8601 date or time"
