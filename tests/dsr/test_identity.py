"""Identity: a request names one person by contact id, email or phone in any human format, never guessed."""

from __future__ import annotations

import duckdb
import pytest
from purge_scenario import ERIN, HANK, TENANT

from lethe.dsr.identity import SubjectRef, normalise_phone, resolve
from lethe.errors import IdentityError
from lethe.settings import Settings


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


def test_not_a_phone_number_is_refused() -> None:
    with pytest.raises(IdentityError, match="not a"):
        normalise_phone("call me maybe")
