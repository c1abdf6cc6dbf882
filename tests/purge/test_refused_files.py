"""Landing files the warehouse refused (quarantined whole, or changed under a loaded path) hold data no raw table
has, so the purge cannot find them through records: an erased subject's refused file is deleted all the same,
by the purge that erases them and by any later ingest; refused files of other people stay for the operator."""

from __future__ import annotations

import json

from purge_scenario import ERIN, FILLERS, TENANT, _event, days_ago, grep_home, ingest, query_rows

from lethe.purge import run_purge
from lethe.settings import Settings


def _refused(settings: Settings) -> set[str]:
    return {r[0] for r in query_rows(settings, "select source_file from quarantine.files")}


def test_the_erasure_deletes_refused_files_holding_the_subject_and_keeps_the_others(scenario: Settings) -> None:
    t = scenario.landing / TENANT
    files = {
        # a CSV whose quoting is broken, with Erin's email
        "csv": t / "crm" / "contacts" / "broken.csv",
        # a transcript that is not JSON, naming Erin only by her phone in a human format
        "transcript": t / "transcripts" / "broken" / "ctr-x.json",
        # a malformed SendGrid file of a filler: not Erin's, so it stays
        "filler": t / "email_events" / "broken" / "filler.json",
        # not gzip at all under a .gz name: unreadable, so it stays (and does not stop the scan)
        "corrupt": t / "email_events" / "broken" / "corrupt.json.gz",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    files["csv"].write_text(f'Id,FirstName,Email\n003X,"Erin,{ERIN["email"]}\n')
    files["transcript"].write_text('{"ContactId": "ctr-x", "Transcript": [{"Content": "call me on 07700 900103"')
    files["filler"].write_text(json.dumps([_event("ev-f05-9", FILLERS[5]["email"], days_ago(3), "open")])[:-2])
    files["corrupt"].write_bytes(b"\x1f\x8b\x08\x00 this is not deflate data " + FILLERS[7]["email"].encode())
    ingest(scenario)
    rels = {k: p.relative_to(scenario.landing).as_posix() for k, p in files.items()}
    assert set(rels.values()) <= _refused(scenario)  # all three were refused whole

    run_purge(scenario, dry_run=False)  # the scenario's plan erases Erin

    assert not files["csv"].exists() and not files["transcript"].exists()
    assert files["filler"].exists() and files["corrupt"].exists()
    assert grep_home(scenario.home.parent, [ERIN["email"], "07700 900103", ERIN["phone"]]) == []
    counts = query_rows(scenario, "select target, action, rows from lethe_meta.purge_counts where target = 'landing:refused'")
    assert counts == [("landing:refused", "delete_file", 2)]
    statuses = dict(query_rows(scenario, "select path, status from lethe_meta.manifest"))
    assert statuses.get(rels["filler"]) != "purged"


def test_a_refused_delivery_after_the_erasure_is_deleted_by_the_ingest(scenario: Settings) -> None:
    run_purge(scenario, dry_run=False)
    t = scenario.landing / TENANT
    # changed under a path already loaded (not reloaded, so never checked record by record), and a broken new file
    changed = t / "email_events" / "events.json"
    assert changed.exists()
    changed.write_text(json.dumps([_event("ev-erin-7", ERIN["email"], days_ago(2), "open")]))
    broken = t / "crm" / "contacts" / "late-broken.csv"
    broken.write_text(f'Id,Email\n{ERIN["id"]},"{ERIN["email"]}\n')
    other = t / "crm" / "contacts" / "other-broken.csv"
    other.write_text(f'Id,Email\n{FILLERS[6]["id"]},"{FILLERS[6]["email"]}\n')

    ingest(scenario)

    assert not changed.exists() and not broken.exists() and other.exists()
    assert grep_home(scenario.home.parent, [ERIN["email"]]) == []


def test_phone_numbers_in_refused_text_are_found_in_any_human_format() -> None:
    """The phones a refused file is matched by: every human format of a subject's number, in CSV, JSON or
    free text, as E.164; fragments of ids and short digit runs are not numbers anyone was erased by."""
    import duckdb
    import polars as pl

    from lethe.refused import _phone_values

    texts = {
        "a.csv": 'Id,Phone\n003A,"+44 (0)20 7946 0018"\n003B,020-7946-0019\n',
        "b.json": '{"Content": "call me on 07700 900103 tomorrow", "Id": "f2726dc0-m1"}',
        "c.txt": "US office +1 (555) 123-4567; ext 12, ticket 2726",
    }
    con = duckdb.connect()
    con.register("_refused", pl.DataFrame({"tenant": ["t"] * 3, "rel": list(texts), "text": list(texts.values())}))
    _phone_values(con, {"t": ["GB"]})
    found = {(rel, v) for rel, v in con.execute("select rel, v from _refused_phones").fetchall()}
    assert {("a.csv", "+442079460018"), ("a.csv", "+442079460019"), ("b.json", "+447700900103"),
            ("c.txt", "+15551234567")} <= found
    assert not {v for _, v in found if len(v) < 9}, found


def test_a_national_number_in_refused_text_is_read_in_every_region_of_the_tenant() -> None:
    """A French customer's "06 23 29 76 05" in a refused or quarantined text is their +33623297605 (ingest read
    their CRM phone in their MailingCountry's region), not only the UK reading: an erasure must find it."""
    import duckdb
    import polars as pl

    from lethe.keys import keyed_hash
    from lethe.refused import identities_in_texts

    con = duckdb.connect()
    con.execute("set variable lethe_key = 'k'")
    con.execute("create schema raw")
    con.execute("create table raw.crm_contacts (tenant_id varchar, id varchar, mailing_country varchar)")
    con.execute("insert into raw.crm_contacts values ('t', 'c1', 'United Kingdom'), ('t', 'c2', 'United Kingdom'), "
                "('t', 'c3', 'France')")
    con.execute("create table erased (tenant_id varchar, kind varchar, identity_hash varchar)")
    con.execute("insert into erased values ('t', 'phone', ?)", [keyed_hash(b"k", "t", "phone", "+33623297605")])
    texts = pl.DataFrame({"tenant": ["t", "t"], "rel": ["fr.json", "other.json"],
                          "text": ['{"Content": "rappelez-moi au 06 23 29 76 05"}', '{"Content": "07700 900103"}']})
    assert [(t, rel) for t, rel, _ in identities_in_texts(con, texts, "erased")] == [("t", "fr.json")]
