"""Rows ingest quarantined fall due for retention like the records they were meant to be.

A row that breaks its data contract stays in quarantine.rows and in its landing file. It falls due under the data
category of its dataset (CONTRACT section 3), counted from when it was quarantined (its own dates may be exactly
what is broken), with its tenant's days for that category. The purge then deletes it from the quarantine and drops
its line from the landing file by position, as it does for an erased subject's quarantined rows.

The landing zone below is written by hand, ingested, built by dbt and purged through the real engine:

- Quentin: his Salesforce Contact (Birthdate 1980-02-30, last activity in 2015) and one of his calls (its
  InitiationTimestamp is no time) are quarantined; so is every message of his chat transcript (a role Connect has
  not got). All fall due 30 days after ingest (crm.contact, interaction.metadata and interaction.transcript are 30
  days for this tenant) and go, from the quarantine and from the landing zone.
- Nadia: a SendGrid event of hers is quarantined (an event type SendGrid has not got); campaign.event keeps
  36500 days here, so it is not due and stays.
- Hattie: under an open legal hold. Two broken lines of her calls are quarantined: one that parsed (her number
  normalised in the quarantined record) and one cut off mid-line (the raw text, her number written the human
  way). Holds win: both stay, though they are due.
- Ada and four others: good, active customers, and calls dated after the ingest, so nothing of theirs is due at
  the purge's as-of: every good line of the same files stays. Ada's Contact row and call sit above Quentin's
  lines: one test erases her first, so that his lines have moved up when they fall due.

Ingest stamps quarantined_at with the wall clock, so the instants are taken from it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from purge_scenario import _csv, _ctr, _event, grep_home, iso, landing_digest, query_rows

from lethe.contracts import load_all_contracts
from lethe.purge import run_engine
from lethe.purge.plan import QUARANTINE_CATEGORIES
from lethe.settings import Settings, load_settings

TENANT = "quill-utilities"
SECRET = "quarantine-retention-secret"
DAYS = 30
NOW = datetime.now(UTC).replace(microsecond=0)
EARLY = NOW + timedelta(days=DAYS - 10)  # nothing quarantined is due yet
DUE = NOW + timedelta(days=DAYS + 5)  # what was quarantined at ingest (NOW) is due, but nothing good is
LATER = NOW + timedelta(days=10)  # the good calls: due at LATER + 30 days, after DUE

POLICY = f"""tenants:
  {TENANT}:
    controller: Quill Utilities plc
    retention:
      interaction.metadata: {DAYS}
      interaction.transcript: {DAYS}
      crm.contact: {DAYS}
      campaign.event: 36500
"""


def _person(key: str, first: str, last: str, phone: str) -> dict:
    return {"id": f"003{key}", "first": first, "last": last, "email": f"{first}.{last}@example.com".lower(),
            "human_phone": phone}


ADA = _person("ADA", "Ada", "Ashworth", "07700 900301")
QUENTIN = _person("QUENTIN", "Quentin", "Quarrington", "07700 900302")
HATTIE = _person("HATTIE", "Hattie", "Holdsworth", "07700 900303")
NADIA = _person("NADIA", "Nadia", "Notyetdue", "07700 900304")
FILLERS = [_person(f"FIL{i}", f"Filler{i}", "Goodrow", f"07700 90031{i}") for i in range(4)]

CONTACT_HEADER = ["Id", "IndividualId", "FirstName", "LastName", "Email", "Phone", "MobilePhone", "MailingStreet",
                  "MailingCity", "MailingPostalCode", "MailingCountry", "Birthdate", "HasOptedOutOfEmail", "DoNotCall",
                  "CreatedDate", "LastModifiedDate", "LastActivityDate", "Customer_Status__c", "Contract_End_Date__c"]

CONTACTS = f"{TENANT}/crm/contacts/contacts.csv"
CALLS = f"{TENANT}/contact_records/2026/calls.jsonl"
CHAT = f"{TENANT}/transcripts/ctr-quentin-chat.json"
GOOD_CHAT = f"{TENANT}/transcripts/ctr-fil0.json"
EVENTS = f"{TENANT}/email_events/events.json"


def _contact_row(p: dict, *, birthdate: str = "1980-05-17", activity: str | None = None,
                 status: str = "active") -> list[str]:
    return [p["id"], "", p["first"], p["last"], p["email"], p["human_phone"], "", "1 High St", "London", "SW1A 1AA",
            "United Kingdom", birthdate, "false", "false", "2014-01-01T00:00:00Z", "2015-03-01T00:00:00Z",
            activity or NOW.date().isoformat(), status, ""]


def _chat(cid: str, role: str, at: datetime, person: dict) -> dict:
    return {"ContactId": cid, "Transcript": [
        {"ParticipantRole": "AGENT", "Content": "Hello, how can I help?", "AbsoluteTime": iso(at)},
        {"ParticipantRole": role, "Content": f"I'm {person['first']} {person['last']}, call me on {person['human_phone']}",
         "AbsoluteTime": iso(at + timedelta(seconds=30))},
    ]}


def _call_lines() -> list[str]:
    quentin = _ctr("ctr-quentin-bad", QUENTIN, NOW - timedelta(days=2), None)
    quentin["InitiationTimestamp"] = "yesterday at noon"  # no time: quarantined (rule type:initiation_timestamp)
    hattie = _ctr("ctr-hattie-bad", HATTIE, NOW - timedelta(days=2), None)
    hattie["InitiationTimestamp"] = "the day before"
    cut = '{"ContactId": "ctr-hattie-cut", "CustomerEndpoint": {"Address": "' + HATTIE["human_phone"] + '", "Ty'
    return [
        json.dumps(_ctr("ctr-fil0", FILLERS[0], LATER, None, channel="CHAT")),
        "",  # a blank line: ingest counts it as a line, so positions after it are one further on
        json.dumps(_ctr("ctr-ada", ADA, LATER, None, channel="CHAT")),
        json.dumps(quentin),
        json.dumps(hattie),
        cut,  # does not parse: the quarantine keeps the text, Hattie's number written the human way
        *(json.dumps(_ctr(f"ctr-fil{i}", FILLERS[i], LATER, None, channel="CHAT")) for i in (1, 2, 3)),
    ]


def write_landing(root: Path) -> None:
    t = root / TENANT
    _csv(t / "crm" / "contacts" / "contacts.csv", CONTACT_HEADER, [
        _contact_row(ADA),
        _contact_row(QUENTIN, birthdate="1980-02-30", activity="2015-03-01", status="former"),
        _contact_row(HATTIE),
        *(_contact_row(f) for f in FILLERS),
    ])
    _csv(t / "crm" / "legal_holds" / "holds.csv",
         ["hold_id", "crm_contact_id", "subject_email", "reason", "start_date", "end_date"],
         [["hold-hattie", HATTIE["id"], HATTIE["email"], "Pending litigation",
           (NOW - timedelta(days=30)).date().isoformat(), ""]])
    (t / "contact_records" / "2026").mkdir(parents=True)
    (t / "contact_records" / "2026" / "calls.jsonl").write_text("\n".join(_call_lines()) + "\n")
    (t / "transcripts").mkdir(parents=True)
    # every message of Quentin's chat has a role Connect has not got: the whole file is quarantined row by row
    chat = _chat("ctr-quentin-chat", "ROBOT", NOW - timedelta(days=2), QUENTIN)
    chat["Transcript"][0]["ParticipantRole"] = "OPERATOR"
    (t / "transcripts" / "ctr-quentin-chat.json").write_text(json.dumps(chat))
    (t / "transcripts" / "ctr-fil0.json").write_text(json.dumps(_chat("ctr-fil0", "CUSTOMER", LATER, FILLERS[0])))
    events = [_event(f"ev-fil{i}", f["email"], NOW - timedelta(days=1), "processed") for i, f in enumerate(FILLERS)]
    events.insert(2, _event("ev-nadia-bad", NADIA["email"], NOW - timedelta(days=1), "exploded"))
    (t / "email_events").mkdir(parents=True)
    (t / "email_events" / "events.json").write_text(json.dumps(events, indent=1))


def settings_for(root: Path) -> Settings:
    return load_settings({"LETHE_HOME": str(root / "home"), "LETHE_LANDING": str(root / "landing"),
                          "LETHE_TENANTS": str(root / "tenants.yml"), "LETHE_AS_OF": iso(DUE),
                          "LETHE_SECRET_KEY": SECRET})


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Landed, ingested (at the due as-of: the good calls are dated after the ingest) and built by dbt, once."""
    from lethe.build import run_build
    from lethe.ingest import run_ingest

    root = tmp_path_factory.mktemp("quarantine-retention")
    (root / "tenants.yml").write_text(POLICY)
    write_landing(root / "landing")
    settings = settings_for(root)
    run_ingest(settings, landing=settings.landing)
    run_build(settings)
    return root


@pytest.fixture
def home(built: Path, tmp_path: Path) -> Settings:
    shutil.copytree(built, tmp_path / "h")
    return settings_for(tmp_path / "h")


def _quarantined(settings: Settings) -> list[tuple[str, int, str]]:
    return query_rows(settings, "select source_file, coalesce(source_row, 0), rule from quarantine.rows "
                                "where tenant_id = ? order by all", [TENANT])


def _lines(settings: Settings, rel: str) -> list[str]:
    return [line for line in (settings.landing / rel).read_text().splitlines() if line.strip()]


def _assert_rows_name_their_lines(settings: Settings) -> None:
    """Each row left in the quarantine names, by its position, the landing line it was quarantined from."""
    calls = (settings.landing / CALLS).read_text().split("\n")
    events = json.loads((settings.landing / EVENTS).read_text())
    for rel, row, rule in _quarantined(settings):
        if rel == CALLS:
            assert ("ctr-hattie-cut" if rule == "parse" else "ctr-hattie-bad") in calls[row - 1], (rel, row, rule)
        else:
            assert events[row - 1]["sg_event_id"] == "ev-nadia-bad", (rel, row, rule)


def _quarantine_actions(result) -> list[tuple[str, str, str, str, int]]:
    return [(a.tenant, a.data_category, a.reason, a.action, a.record_count) for a in result.actions
            if a.data_category == "quarantine"]


QUENTIN_ROWS = [(CALLS, 4, "type:initiation_timestamp"), (CONTACTS, 2, "type:birthdate"),
                (CHAT, 1, "enum:participant_role"), (CHAT, 2, "enum:participant_role")]
KEPT_ROWS = [(CALLS, 5, "type:initiation_timestamp"), (CALLS, 6, "parse"), (EVENTS, 3, "enum:event")]


def test_every_tenant_dataset_with_a_data_category_has_it_for_its_quarantined_rows() -> None:
    """The purge's dataset -> category map agrees with the data contracts: every tenant dataset whose contract
    names a category is in it under that category (legal_holds names its category per column: crm.contact);
    campaigns, crm_purposes and the _centre datasets name none and are left out."""
    contracts = load_all_contracts()
    declared = {name: c.data_category for name, c in contracts.items() if c.data_category and not c.centre}
    assert {d: QUARANTINE_CATEGORIES[d] for d in declared} == declared
    assert set(QUARANTINE_CATEGORIES) - set(declared) == {"legal_holds"}
    assert not {"campaigns", "crm_purposes", "agents", "breaches"} & set(QUARANTINE_CATEGORIES)


@pytest.mark.slow  # dbt builds the project, as in the other purge tests that need real models
def test_the_landing_zone_is_quarantined_as_the_scenario_says(home: Settings) -> None:
    rows = _quarantined(home)
    assert [(f, r) for f, r, _ in rows] == sorted((f, r) for f, r, _ in QUENTIN_ROWS + KEPT_ROWS), rows
    assert query_rows(home, "select count(*) from raw.crm_contacts") == [(6,)]
    assert query_rows(home, "select count(*) from raw.contact_records") == [(5,)]
    assert query_rows(home, "select count(*) from marts.retention_due where tenant_id = ?", [TENANT]) == [(0,)]


@pytest.mark.slow  # dbt builds the project, as in the other purge tests that need real models
def test_quarantined_rows_past_retention_leave_the_quarantine_and_their_landing_files(home: Settings) -> None:
    before = _quarantined(home)
    digest = landing_digest(home)

    early = run_engine(home.with_as_of(EARLY), kind="retention")  # not yet due: nothing of them is planned
    assert _quarantine_actions(early) == []
    assert _quarantined(home) == before and landing_digest(home) == digest

    dry = run_engine(home.with_as_of(DUE), kind="retention", dry_run=True)  # the dry run counts them
    assert _quarantine_actions(dry) == [(TENANT, "quarantine", "retention_expired", "delete", 4)]
    assert _quarantined(home) == before and landing_digest(home) == digest

    done = run_engine(home.with_as_of(DUE), kind="retention")

    assert _quarantine_actions(done) == [(TENANT, "quarantine", "retention_expired", "delete", 4)]
    # Quentin's rows are gone from the quarantine; Nadia's (not due) and Hattie's (held) stay, renumbered to the
    # lines they now have (the blank line and Quentin's call above them are gone)
    assert _quarantined(home) == [(CALLS, 3, "type:initiation_timestamp"), (CALLS, 4, "parse"),
                                  (EVENTS, 3, "enum:event")]
    _assert_rows_name_their_lines(home)
    quentin = [QUENTIN["email"], QUENTIN["last"], QUENTIN["human_phone"], "+447700900302", "ctr-quentin"]
    assert grep_home(home.landing, quentin) == []
    assert not (home.landing / CHAT).exists()  # nothing of the chat was loaded: the file goes whole
    # every good line of the same files stays, and so do the quarantined lines that are not due or held
    assert [line.split(",")[0] for line in _lines(home, CONTACTS)] == [
        "Id", ADA["id"], HATTIE["id"], *(f["id"] for f in FILLERS)]
    calls = _lines(home, CALLS)
    assert calls == [line for line in _call_lines() if line.strip() and "quentin" not in line]
    assert [e["sg_event_id"] for e in json.loads((home.landing / EVENTS).read_text())] == [
        "ev-fil0", "ev-fil1", "ev-nadia-bad", "ev-fil2", "ev-fil3"]
    assert (home.landing / GOOD_CHAT).exists()
    assert query_rows(home, "select count(*) from raw.crm_contacts") == [(6,)]
    assert query_rows(home, "select count(*) from raw.contact_records") == [(5,)]
    assert grep_home(home.home, [QUENTIN["email"], QUENTIN["last"], "+447700900302"]) == []

    again = run_engine(home.with_as_of(DUE), kind="retention")  # nothing due is left behind
    assert _quarantine_actions(again) == []


@pytest.mark.slow  # dbt builds the project, as in the other purge tests that need real models
def test_the_command_line_dry_run_counts_them(home: Settings) -> None:
    env = {**os.environ, "LETHE_HOME": str(home.home), "LETHE_LANDING": str(home.landing),
           "LETHE_TENANTS": str(home.tenants_file), "LETHE_SECRET_KEY": SECRET}
    lethe = Path(sys.executable).with_name("lethe")
    digest = landing_digest(home)
    out = {}
    for name, at in (("early", EARLY), ("due", DUE)):
        done = subprocess.run([str(lethe), "purge", "--dry-run", "--json", "--as-of", iso(at)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        out[name] = [a for a in json.loads(done.stdout)["actions"] if a["data_category"] == "quarantine"]
    assert out["early"] == []
    assert out["due"] == [{"tenant": TENANT, "data_category": "quarantine", "reason": "retention_expired",
                           "action": "delete", "record_count": 4}]
    assert landing_digest(home) == digest and len(_quarantined(home)) == len(QUENTIN_ROWS + KEPT_ROWS)


@pytest.mark.slow  # dbt builds the project, as in the other purge tests that need real models
def test_a_line_is_found_by_its_position_after_an_earlier_purge_rewrote_its_file(home: Settings) -> None:
    """Ada is erased first (before anything quarantined is due): her Contact row, above Quentin's, and her call,
    below the blank line and above Quentin's call, leave their files, so every later line moves up. The retention
    purge later must still drop Quentin's lines, and only his, not whatever took their old places."""
    from lethe.dsr.erase import erase_subject
    from lethe.dsr.identity import SubjectRef

    erase_subject(home.with_as_of(EARLY), TENANT, SubjectRef(contact_id=ADA["id"]))
    assert grep_home(home.landing, [ADA["email"], ADA["last"]]) == []

    run_engine(home.with_as_of(DUE), kind="retention")

    assert grep_home(home.landing, [QUENTIN["email"], QUENTIN["last"], "ctr-quentin"]) == []
    assert [line.split(",")[0] for line in _lines(home, CONTACTS)] == ["Id", HATTIE["id"], *(f["id"] for f in FILLERS)]
    assert _lines(home, CALLS) == [line for line in _call_lines()
                                   if line.strip() and "quentin" not in line and "ctr-ada" not in line]
    # the rows that stay in the quarantine still name their own lines
    assert _quarantined(home) == [(CALLS, 2, "type:initiation_timestamp"), (CALLS, 3, "parse"),
                                  (EVENTS, 3, "enum:event")]
    _assert_rows_name_their_lines(home)


@pytest.mark.slow  # dbt builds the project, as in the other purge tests that need real models
def test_a_restricted_persons_quarantined_rows_stay_past_their_retention(home: Settings) -> None:
    """A restriction standing at the as-of keeps the person's data stored (GDPR Art. 18(2)), their quarantined rows
    too, judged on the rows' text as holds are: Hattie's hold has ended and she has asked for restriction instead
    (`lethe dsar restrict`). The line that parsed names her number normalised; the line cut off mid-way names it
    the human way, which only the text match finds. Both stay; Quentin's due rows go as before."""
    from lethe.dsr import SubjectRef, record_request
    from lethe.warehouse import connect

    con = connect(home)
    try:
        con.execute("update raw.legal_holds set end_date = ?", [(NOW - timedelta(days=1)).date()])
    finally:
        con.close()
    record_request(home.with_as_of(EARLY), TENANT, SubjectRef(contact_id=HATTIE["id"]), "restrict")

    done = run_engine(home.with_as_of(DUE), kind="retention")

    assert _quarantine_actions(done) == [(TENANT, "quarantine", "retention_expired", "delete", 4)]
    assert _quarantined(home) == [(CALLS, 3, "type:initiation_timestamp"), (CALLS, 4, "parse"),
                                  (EVENTS, 3, "enum:event")]
    _assert_rows_name_their_lines(home)
    calls = _lines(home, CALLS)
    assert any("ctr-hattie-cut" in line for line in calls) and any("ctr-hattie-bad" in line for line in calls)
    assert grep_home(home.landing, [QUENTIN["email"], QUENTIN["last"], "ctr-quentin"]) == []


@pytest.mark.slow  # dbt builds the project, as in the other purge tests that need real models
def test_a_restriction_the_build_resolved_through_an_old_address_keeps_the_persons_quarantined_rows(
    home: Settings,
) -> None:
    """Hattie's hold has ended; she has a new email since, and asks for restriction naming her old one. The build
    resolves the request to her through the identity index (the addresses a contact held before) and restricts
    her. The purge's own reading of the raw layer matches a request to the contacts holding its address now,
    nobody here: the plan must also take the people the last build found restricted, with every identity the
    index gives them, or her quarantined lines (which name only her number) are deleted as due."""
    from lethe.build import run_build
    from lethe.ingest import schema
    from lethe.warehouse import connect

    new_email = "hattie.moved@example.com"
    con = connect(home)
    try:
        schema.ensure(con, {"dsr_requests": load_all_contracts()["dsr_requests"]})  # no request was delivered yet
        con.execute("update raw.legal_holds set end_date = ?", [(NOW - timedelta(days=1)).date()])
        con.execute("update raw.crm_contacts set email = ? where id = ?", [new_email, HATTIE["id"]])
        con.execute("insert into lethe_meta.crm_contact_previous_addresses values (?, ?, 'email', ?, ?, 'test')",
                    [TENANT, HATTIE["id"], HATTIE["email"], NOW.replace(tzinfo=None)])
        at = NOW.replace(tzinfo=None)
        con.execute("insert into raw.dsr_requests (tenant_id, request_id, received_at, type, subject_email, "
                    "verified_at, _source_file, _source_row, _batch_id, _loaded_at) values (?, 'restrict-hattie', ?, "
                    "'restriction', ?, ?, 'test', 0, 'test', now())", [TENANT, at, HATTIE["email"], at])
    finally:
        con.close()
    run_build(home)
    assert query_rows(home, "select is_restricted from marts.dim_subjects s join intermediate.int_subject_identities_resolved i "
                            "using (tenant_id, subject_key) where i.identity_kind = 'contact' and i.identity_value = ?",
                      [HATTIE["id"]]) == [(True,)]

    done = run_engine(home.with_as_of(DUE), kind="retention")

    assert _quarantine_actions(done) == [(TENANT, "quarantine", "retention_expired", "delete", 4)]
    assert _quarantined(home) == [(CALLS, 3, "type:initiation_timestamp"), (CALLS, 4, "parse"),
                                  (EVENTS, 3, "enum:event")]
