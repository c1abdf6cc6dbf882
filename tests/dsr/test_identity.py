"""Identity: a request names one person by contact id, email or phone in any human format, never guessed."""

from __future__ import annotations

import duckdb
import pytest
from purge_scenario import ERIN, HANK, TENANT

from lethe.dsr.identity import SubjectRef, normalise_phone, resolve
from lethe.errors import IdentityError
from lethe.settings import Settings

# Emma lives in France: her Contact's MobilePhone is in French national format, stored by ingest as +33623297605
EMMA = {"Id": "003EMMA", "IndividualId": "0PKEMMA", "FirstName": "Emma", "LastName": "Bernard",
        "Email": "emma.bernard@example.fr", "Phone": "", "MobilePhone": "06 2329 7605", "MailingCity": "Lyon",
        "MailingPostalCode": "69002", "MailingCountry": "France"}


def _resolve(settings: Settings, ref: SubjectRef):
    con = duckdb.connect(str(settings.warehouse))
    try:
        return resolve(con, TENANT, ref)
    finally:
        con.close()


@pytest.mark.parametrize("phone", ["07700 900103", "+44 7700 900103", "(07700) 900-103", "+447700900103"])
def test_phone_in_any_human_format_finds_erin(scenario: Settings, phone: str) -> None:
    subject = _resolve(scenario, SubjectRef(phone=phone))
    assert subject.contact_id == ERIN["id"]
    assert ERIN["email"] in subject.emails and ERIN["phone"] in subject.phones


def test_email_is_matched_without_regard_to_case(scenario: Settings) -> None:
    assert _resolve(scenario, SubjectRef(email=HANK["email"].upper())).contact_id == HANK["id"]


def test_nobody_matching_is_refused_with_the_value_named(scenario: Settings) -> None:
    with pytest.raises(IdentityError, match="nobody.*'ghost@example.com'|'ghost@example.com'.*nobody"):
        _resolve(scenario, SubjectRef(email="ghost@example.com"))


def test_several_people_matching_is_refused_never_guessed(scenario: Settings) -> None:
    con = duckdb.connect(str(scenario.warehouse))
    con.execute("update raw.crm_contacts set phone = ? where id = ?", [ERIN["phone"], HANK["id"]])
    con.close()
    with pytest.raises(IdentityError, match="matches 2 people"):
        _resolve(scenario, SubjectRef(phone="07700 900103"))


@pytest.mark.parametrize("value", ["call me maybe", "ext. 4411 ask for Jo", "1-800-FLOWERS"])
def test_not_a_phone_number_is_refused(value: str) -> None:
    """Words are no number, even around digits: phonenumbers alone reads letters as keypad digits."""
    with pytest.raises(IdentityError, match="is not a phone number"):
        normalise_phone(value)


def test_a_phone_with_an_extension_is_its_number() -> None:
    assert normalise_phone("+44 20 7946 0000 ext. 12") == normalise_phone("020 7946 0000") == "+442079460000"


@pytest.fixture
def abroad(scenario: Settings, land_contacts) -> Settings:
    """The scenario's UK tenant with a customer in France (Emma), ingested."""
    land_contacts(scenario, "france.csv", EMMA)
    return scenario


@pytest.mark.parametrize("phone", ["06 2329 7605", "06.23.29.76.05", "0623297605", "+33 6 23 29 76 05",
                                   "0033 6 23 29 76 05"])
def test_a_phone_written_as_in_a_contacts_country_finds_them(abroad: Settings, phone: str) -> None:
    """Ingest read Emma's national-format number in her MailingCountry's region; a request giving it exactly as
    the CRM holds it (or in international format) finds her, not "nobody" (it was read as a UK number)."""
    subject = _resolve(abroad, SubjectRef(phone=phone))
    assert (subject.contact_id, subject.phones) == (EMMA["Id"], ("+33623297605",))
    # the tenant's UK customers are still found by their UK national numbers
    assert _resolve(abroad, SubjectRef(phone=ERIN["human_phone"])).contact_id == ERIN["id"]


def test_a_national_number_two_countries_customers_may_have_is_refused_never_guessed(
        abroad: Settings, land_contacts) -> None:
    """Jonas in Germany has the same digits in German national format (+49623297605): "06 2329 7605" names Emma
    or Jonas, so it is refused; each is found by their number in international format."""
    land_contacts(abroad, "germany.csv", {**EMMA, "Id": "003JONAS", "IndividualId": "0PKJONAS", "FirstName": "Jonas",
                                          "Email": "jonas@example.de", "MailingCountry": "Germany"})
    with pytest.raises(IdentityError, match="matches 2 people"):
        _resolve(abroad, SubjectRef(phone="06 2329 7605"))
    assert _resolve(abroad, SubjectRef(phone="+49 6232 97605")).contact_id == "003JONAS"
    assert _resolve(abroad, SubjectRef(phone="+33 6 23 29 76 05")).contact_id == EMMA["Id"]


def test_a_national_number_whose_other_reading_called_in_is_refused_never_guessed(abroad: Settings) -> None:
    """Someone with no CRM contact called from +44 6232 97605, the UK reading of Emma's "06 2329 7605": the
    request may mean either of them, so it is refused, not taken for Emma."""
    import json

    from purge_scenario import ingest

    calls = abroad.landing / TENANT / "contact_records" / "2026" / "05" / "uk-caller.jsonl"
    calls.write_text(json.dumps({
        "ContactId": "ctr-uk-caller", "Channel": "VOICE", "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2026-05-20T10:00:00Z", "DisconnectTimestamp": "2026-05-20T10:05:00Z",
        "LastUpdateTimestamp": "2026-05-20T10:06:00Z",
        "CustomerEndpoint": {"Address": "+44 6232 97605", "Type": "TELEPHONE_NUMBER"}}) + "\n")
    ingest(abroad)
    with pytest.raises(IdentityError, match="matches 2 people"):
        _resolve(abroad, SubjectRef(phone="06 2329 7605"))
    assert _resolve(abroad, SubjectRef(phone="+44 6232 97605")).phones == ("+44623297605",)


def test_a_restriction_named_by_a_national_number_records_the_number_it_resolved_to(abroad: Settings) -> None:
    """`lethe dsar restrict --phone "06 2329 7605"` finds Emma; the request row must carry her number, not the UK
    reading (+44623297605), which would make it a request of whoever holds that number."""
    from lethe.dsr.record import record_request

    recorded = record_request(abroad, TENANT, SubjectRef(phone="06 2329 7605"), "restrict")
    con = duckdb.connect(str(abroad.warehouse), read_only=True)
    try:
        row = con.execute("select crm_contact_id, subject_phone from raw.dsr_requests where request_id = ?",
                          [recorded.request_id]).fetchone()
    finally:
        con.close()
    assert row == (EMMA["Id"], "+33623297605")
