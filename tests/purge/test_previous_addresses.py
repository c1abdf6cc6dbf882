"""A CRM contact whose email changes keeps its old address: the Contact export carries only the current one, so
before, the old address became a stranger (an unresolved subject). Wendy unsubscribed from wendy@example.com; when
her contact arrived with a new email she was back in the marketing audience under it, her old address's mails were
no longer hers (an access export left them out, an erasure left them behind), and only retention would ever
remove them. Now ingest keeps the old address, identity resolution gives it to her (unless someone holds it now),
and an erasure takes it, its mails and its record of her everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from purge_scenario import FILLERS, TENANT, WENDY, _csv, days_ago, grep_home, ingest, iso, query_rows

from lethe.keys import keyed_hash
from lethe.settings import Settings

WENDY_NEW = "wendy.new@example.org"
FILLER = FILLERS[0]
FILLER_NEW = "filler0.new@example.org"
HEADER = ["Id", "IndividualId", "FirstName", "LastName", "Email", "Phone", "MobilePhone", "MailingStreet", "MailingCity",
          "MailingPostalCode", "MailingCountry", "Birthdate", "HasOptedOutOfEmail", "DoNotCall", "CreatedDate",
          "LastModifiedDate", "LastActivityDate", "Customer_Status__c", "Contract_End_Date__c"]


def _changed_emails(settings: Settings) -> None:
    """The CRM's next export: Wendy and a filler (who never unsubscribed) with new emails; ingested, then built."""
    from lethe.build import run_build

    rows = [[p["id"], p["ind"], p["first"], p["last"], new, p["human_phone"], "", "1 High St", "London", "SW1A 1AA",
             "United Kingdom", "1980-05-17", "false", "false", "2024-01-01T00:00:00Z", "2026-05-01T00:00:00Z",
             "2026-05-01", "active", ""] for p, new in ((WENDY, WENDY_NEW), (FILLER, FILLER_NEW))]
    _csv(settings.landing / TENANT / "crm" / "contacts" / "contacts-2026-05-02.csv", HEADER, rows)
    # and an access request (DSR CSV) naming Wendy by her old email only
    _csv(settings.landing / TENANT / "crm" / "dsr_requests" / "dsr-2026-05-30.csv",
         ["request_id", "received_at", "type", "crm_contact_id", "subject_email", "subject_phone", "verified_at",
          "details"],
         [["dsr-wendy-access", iso(days_ago(2)), "access", "", WENDY["email"], "", iso(days_ago(1)), ""]])
    ingest(settings)
    con = duckdb.connect(str(settings.warehouse))
    con.execute("drop table if exists marts.retention_due")  # the scenario's hand-built due list: dbt builds it
    con.close()
    run_build(settings)


def _key(settings: Settings, kind: str, value: str) -> str:
    return keyed_hash(settings.secret_key, TENANT, kind, value)


@pytest.mark.slow
def test_a_changed_email_keeps_its_unsubscribe_its_mails_and_is_erased_with_its_person(
    scenario: Settings, tmp_path: Path
) -> None:
    from lethe.audience import read_audience
    from lethe.dsr import SubjectRef, erase_subject, export_subject

    _changed_emails(scenario)
    assert query_rows(scenario, "select contact_id, kind, address from lethe_meta.crm_contact_previous_addresses "
                                "order by all") == [(FILLER["id"], "email", FILLER["email"]),
                                                    (WENDY["id"], "email", WENDY["email"])]
    wendy = _key(scenario, "contact", WENDY["id"])
    assert query_rows(scenario, "select distinct subject_key from intermediate.int_subject_identities_resolved "
                                "where identity_value = ?", [WENDY["email"]]) == [(wendy,)]

    # her unsubscribe from the old address still counts: not mailable under the new one; the filler still is
    audience = dict(read_audience(scenario, TENANT, "Marketing", "email"))
    assert wendy not in audience, "Wendy unsubscribed, changed her email and was back in the audience"
    assert audience[_key(scenario, "contact", FILLER["id"])] == FILLER_NEW

    # her access export, asked for by the old address, is hers and lists the old address's mails
    out = export_subject(scenario, TENANT, SubjectRef(email=WENDY["email"]), "json", tmp_path / "wendy.json")
    doc = json.loads(out.read_text())
    assert [c["Id"] for c in doc["crm_contacts"]] == [WENDY["id"]]
    assert {e["sg_event_id"] for e in doc["email_events"]} == {"ev-wendy-1", "ev-wendy-2", "ev-wendy-3"}
    out.unlink()
    # so does the pipeline's, for the request that names her by it
    from lethe.dsr import process_requests

    con = duckdb.connect(str(scenario.warehouse))  # the scenario's pending erasures are other tests' business
    con.execute("delete from raw.dsr_requests where request_id in ('dsr-erin', 'dsr-hank')")
    con.close()
    result = process_requests(scenario)
    (served,) = [p for p in result.exports if "dsr-wendy-access" in Path(p).name]
    assert [c["Id"] for c in json.loads(Path(served).read_text())["crm_contacts"]] == [WENDY["id"]]

    erase_subject(scenario, TENANT, SubjectRef(contact_id=WENDY["id"]))
    assert query_rows(scenario, "select count(*) from lethe_meta.crm_contact_previous_addresses "
                                "where contact_id = ?", [WENDY["id"]]) == [(0,)]
    assert query_rows(scenario, "select count(*) from raw.email_events where sg_event_id like 'ev-wendy-%'") == [(0,)]
    tombstoned = {h for (h,) in query_rows(scenario, "select identity_hash from lethe_meta.tombstones "
                                                     "where kind = 'email'")}
    assert {_key(scenario, "email", WENDY["email"]), _key(scenario, "email", WENDY_NEW)} <= tombstoned
    # (her surname, "Withdrew", is a word dbt's log uses: her addresses and phone are grepped)
    found = grep_home(scenario.home.parent, [WENDY["email"], WENDY_NEW, WENDY["phone"]])
    assert found == [], found
    # the filler's old address is untouched
    assert query_rows(scenario, "select count(*) from raw.email_events where email = ?", [FILLER["email"]]) == [(2,)]
