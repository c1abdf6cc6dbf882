"""A request Lethe fulfilled shows as done in the request tracking mart (and `lethe status`, and the dashboard)
as soon as it is fulfilled: an access or portability request once its export is written, an erasure once its
purge run finished, a restriction or objection once a build applied it. Before, nothing recorded a fulfilment,
so every exported request stayed open and went overdue, and an erased subject's request (whose identities the
erasure removed) never counted as erased; restrictions and objections Lethe applied went overdue too, unless
the CRM's own flag was set. A request Lethe could not act on says why.

Also what the DSR file's optional columns do: `extension_notified_at` (GDPR Art. 12(3): a controller may extend
the time limit by two further months, telling the requester within the first; before, an extended request showed
as overdue from its first due date on the dashboard and in `lethe status`), and `restriction_lifted_at` (Art.
18(3): a restriction stands until it is lifted, and while it stands the subject's records are kept past their
retention, as storage is all restricted data may undergo; before, the purge deleted them when they fell due).
The tests share one generated, built home (each works on its own copy)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import generated_home
import pytest
from generated_home import NO_HOLDS
from purge_scenario import query_rows


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_home.build(tmp_path_factory.mktemp("fulfilment"))


def test_exported_and_erased_requests_are_done_once_processed(built: Path, tmp_path: Path) -> None:
    from lethe.dsr import process_requests
    from lethe.publish import publish
    from lethe.status import compute_status

    settings = generated_home.copy(built, tmp_path / "h")
    overdue_before = compute_status(settings)["dsr_overdue"]

    result = process_requests(settings)

    assert result.outcomes.get("exported", 0) > 0 and result.outcomes.get("erased", 0) > 0
    rows = query_rows(settings, """
        select d.request_type, d.status, d.completed_at is not null, p.outcome
        from marts.fct_dsr_requests d join lethe_meta.dsr_processed p using (tenant_id, request_id)
        where p.outcome in ('exported', 'erased')""")
    assert {t for t, *_ in rows} >= {"access", "erasure"}
    assert all(status == "done" and completed for _, status, completed, _ in rows), rows
    # requests made in the CRM (SendIndividualData on an Individual) are tracked too, and done once exported
    flagged = query_rows(settings, "select status, processing_outcome from marts.fct_dsr_requests "
                                   "where request_id like 'individual:%:access'")
    assert flagged and all(row == ("done", "exported") for row in flagged), flagged
    # an erasure requested in the CRM (ShouldForget) stays tracked, done, after the erasure deleted its Individual
    erased = {r for (r,) in query_rows(settings, "select request_id from lethe_meta.dsr_processed "
                                                 "where outcome = 'erased' and request_id like 'individual:%:erasure'")}
    assert erased
    kept = {r: (status, key) for r, status, key in query_rows(
        settings, "select request_id, status, subject_key from marts.fct_dsr_requests where request_id in "
                  "(select unnest(?))", [sorted(erased)])}
    assert set(kept) == erased and all(status == "done" for status, _ in kept.values()), kept
    # a request that was never verified is not processed, and is not done
    unverified = query_rows(settings, "select status from marts.fct_dsr_requests where verified_at is null "
                                 "and request_type in ('access', 'erasure', 'portability')")
    assert unverified and all(status != "done" for (status,) in unverified)
    publish(settings)  # as `lethe run` and the enforce DAG do after the requests and the purge
    assert compute_status(settings)["dsr_overdue"] < overdue_before



def test_a_restriction_and_an_objection_are_done_once_a_build_applied_them(built: Path, tmp_path: Path) -> None:
    """`lethe dsar restrict` and `lethe dsar object` (which set no CRM flag): done once the next build shows the
    subject restricted or objecting, not before; a verified request naming nobody Lethe holds data on stays open
    for the DPO, saying why."""
    from lethe.build import run_build
    from lethe.dsr import SubjectRef, process_requests, record_request
    from lethe.warehouse import connect

    settings = generated_home.copy(built, tmp_path / "h")
    process_requests(settings)  # the home's own requests (its erasures rebuild the marts)
    (tenant, restrict_id), (_, object_id) = query_rows(settings, f"""
        select i.tenant_id, i.identity_value from intermediate.int_subject_identities_resolved i
        join marts.dim_subjects d using (tenant_id, subject_key)
        where i.identity_kind = 'contact' and i.tenant_id = '{generated_home.NO_HOLDS}'
            and not d.is_restricted and not d.is_objecting and not d.is_erasure_requested
        order by i.identity_value limit 2""")
    restriction = record_request(settings, tenant, SubjectRef(contact_id=restrict_id), "restrict")
    objection = record_request(settings, tenant, SubjectRef(contact_id=object_id), "object")
    con = connect(settings)  # a request from the requester's own words, naming nobody Lethe holds data on
    con.execute("insert into raw.dsr_requests (tenant_id, request_id, received_at, type, subject_email, verified_at, "
                "_source_file, _source_row, _batch_id, _loaded_at) values (?, 'DSR-NOBODY', ?, 'objection', "
                "'nobody@example.invalid', ?, 'test', 0, 'test', now())",
                [tenant, settings.as_of.replace(tzinfo=None), settings.as_of.replace(tzinfo=None)])
    # an access request received now but verified the day after this run's as-of (a backfill sees it early)
    con.execute("insert into raw.dsr_requests (tenant_id, request_id, received_at, type, crm_contact_id, verified_at, "
                "_source_file, _source_row, _batch_id, _loaded_at) values (?, 'DSR-LATER', ?, 'access', ?, ?, "
                "'test', 0, 'test', now())",
                [tenant, settings.as_of.replace(tzinfo=None), restrict_id,
                 settings.as_of.replace(tzinfo=None) + timedelta(days=1)])
    con.close()

    ids = (restriction.request_id, objection.request_id, "DSR-NOBODY")

    def statuses() -> dict[str, tuple]:
        return {r: (s, o) for r, s, o in query_rows(settings, "select request_id, status, processing_outcome "
                                                              f"from marts.fct_dsr_requests where request_id in {ids}")}

    process_requests(settings)  # before a build applied them: matched and recorded, not done
    assert dict(query_rows(settings, f"select request_id, outcome from lethe_meta.dsr_processed where request_id in {ids}")) == {
        restriction.request_id: "applied", objection.request_id: "applied", "DSR-NOBODY": "no_match"}
    assert query_rows(settings, f"select count(*) from lethe_meta.dsr_fulfilments where request_id in {ids}") == [(0,)]

    run_build(settings)
    result = process_requests(settings)

    assert statuses() == {restriction.request_id: ("done", "applied"), objection.request_id: ("done", "applied"),
                          "DSR-NOBODY": ("open", "no_match")}, result.outcomes
    assert query_rows(settings, "select count(*) from lethe_meta.dsr_fulfilments where request_id = 'DSR-NOBODY'") == [(0,)]
    # nothing done is done twice; what Lethe could not act on is looked at again (and still cannot be)
    assert set(process_requests(settings).outcomes) <= {"erasure held", "objection no_match", "erasure no_match",
                                                        "access no_match", "erasure ambiguous", "access ambiguous"}
    # the request verified after the as-of waited; a run at its verification day exports it
    assert query_rows(settings, "select count(*) from lethe_meta.dsr_processed where request_id = 'DSR-LATER'") == [(0,)]
    later = settings.with_as_of((settings.as_of + timedelta(days=1)).isoformat())
    assert process_requests(later).outcomes.get("exported") == 1


def test_an_access_request_made_again_in_the_crm_is_served_again(built: Path, tmp_path: Path) -> None:
    """SendIndividualData cleared after the export and set again later is the person asking again: open in the
    tracking mart from the day it was set again, not done by the first export, and exported again by the next
    run. Before, its request id was already processed, so the second request was never served and showed as
    done. An edit of the Individual while the flag stays set is not a new request, and does not re-date it."""
    import polars as pl

    from lethe.build import run_build
    from lethe.dsr import process_requests
    from lethe.ingest import run_ingest

    settings = generated_home.copy(built, tmp_path / "h")
    process_requests(settings)
    (tenant, request_id, source_file, first_at), *_ = query_rows(settings, """
        select p.tenant_id, p.request_id, i._source_file, p.received_at from lethe_meta.dsr_processed p
        join raw.crm_individuals i on i.tenant_id = p.tenant_id and p.request_id = 'individual:' || i.id || ':access'
        where p.outcome = 'exported' order by 1, 2""")
    individual = request_id.split(":")[1]
    (first_export,) = (settings.exports_dir / tenant).glob(f"*.{request_id.replace(':', '_')}.json")
    first_export.unlink()  # what the first request produced was sent and deleted: a new one must be written
    path = Path(source_file) if Path(source_file).is_absolute() else settings.landing / source_file
    row = pl.read_csv(path, infer_schema=False).filter(pl.col("Id") == individual)
    assert row.height == 1 and row["SendIndividualData"][0] == "true"
    folder = settings.landing / tenant / "crm" / "individuals"
    start = settings.as_of.replace(tzinfo=None)

    def deliver(name: str, hours: int, flag: str) -> None:
        at = (start + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        row.with_columns(pl.lit(at).alias("LastModifiedDate"), pl.lit(flag).alias("SendIndividualData")).write_csv(
            folder / name)
        run_ingest(settings, landing=settings.landing)

    def tracked() -> list[tuple]:
        return query_rows(settings, "select status, received_at, processing_outcome from marts.fct_dsr_requests "
                                    "where tenant_id = ? and request_id = ?", [tenant, request_id])

    settings = settings.with_as_of((settings.as_of + timedelta(days=1)).isoformat())
    deliver("edited.csv", 4, "true")  # another edit of the Individual, the flag still set: the same request
    run_build(settings)
    assert tracked() == [("done", first_at, "exported")]
    assert process_requests(settings).outcomes.get("exported") is None

    deliver("cleared.csv", 10, "false")  # the CRM clears the flag once the data was sent ...
    deliver("asked-again.csv", 20, "true")  # ... and the person asks again
    run_build(settings)
    again = start + timedelta(hours=20)
    assert tracked() == [("open", again, None)]

    result = process_requests(settings)

    assert result.outcomes.get("exported") == 1, result.outcomes
    assert first_export.exists()
    assert tracked() == [("done", again, "exported")]
    assert query_rows(settings, "select count(*) from lethe_meta.dsr_fulfilments where tenant_id = ? and request_id = ?",
                      [tenant, request_id]) == [(2,)]
    # served once: the next run exports nothing more for it
    assert process_requests(settings).outcomes.get("exported") is None


def _requests(settings, tenant: str, at: datetime, requests: tuple, *, verified: bool = True) -> None:
    """Requests received (and verified) at `at`, straight into raw.dsr_requests: (request id, type, Contact Id,
    email)."""
    from lethe.warehouse import connect

    con = connect(settings)
    try:
        con.executemany("insert into raw.dsr_requests (tenant_id, request_id, received_at, type, crm_contact_id, "
                        "subject_email, verified_at, _source_file, _source_row, _batch_id, _loaded_at) "
                        "values (?, ?, ?, ?, ?, ?, ?, 'test', 0, 'test', now())",
                        [[tenant, request_id, at, kind, contact_id, email, at if verified else None]
                         for request_id, kind, contact_id, email in requests])
    finally:
        con.close()


def _erasure_requests(settings, tenant: str, at: datetime, requests: tuple) -> None:
    """Verified erasure requests: (request id, Contact Id, email)."""
    _requests(settings, tenant, at, tuple((r, "erasure", c, e) for r, c, e in requests))


def test_the_other_requests_of_a_person_an_erasure_erased_are_done(built: Path, tmp_path: Path) -> None:
    """A person asks for a restriction, then for their data, a correction, and to be erased. The erasure blanks
    their addresses from every request that names them and tombstones their Contact Id, so their other requests
    matched nobody: `no_match`, looked at again on every run, overdue on the dashboard and in `lethe status` for
    ever (the restriction, applied but not yet shown by a build, likewise). Nothing of the person is held to
    export, restrict or correct, and nothing can come back: the erasure's run closes them as `erased`, and so does
    the next run a request naming their Contact Id that arrives after the erasure. Not one Lethe could not judge
    yet (unverified), nor one that names only their erased email: that says the address was theirs, not that the
    requester is (it stays `no_match`, open for the DPO)."""
    from lethe.build import run_build
    from lethe.dsr import process_requests

    settings = generated_home.copy(built, tmp_path / "h")
    tenant = generated_home.NO_HOLDS
    process_requests(settings)  # the home's own requests first
    ((contact, email),) = query_rows(settings, f"""
        select c.id, c.email from raw.crm_contacts c
        join intermediate.int_subject_identities_resolved i
            on i.tenant_id = c.tenant_id and i.identity_kind = 'contact' and i.identity_value = c.id
        join marts.dim_subjects d on d.tenant_id = i.tenant_id and d.subject_key = i.subject_key
        where c.tenant_id = '{tenant}' and c.email is not null and not d.is_erasure_requested
            and not d.is_restricted and not d.is_objecting
            and not exists (select 1 from raw.crm_contacts o where o.tenant_id = c.tenant_id and o.id <> c.id
                            and (o.email = c.email or o.individual_id = c.individual_id))
        order by c.id limit 1""")
    at = settings.as_of.replace(tzinfo=None) - timedelta(days=1)
    _requests(settings, tenant, at, (("DSR-P-RESTRICT", "restriction", contact, email),))
    assert process_requests(settings).outcomes.get("restriction applied") == 1
    _requests(settings, tenant, at, (("DSR-P-ERASE", "erasure", contact, None), ("DSR-P-ACCESS", "access", None, email),
                                     ("DSR-P-PORT", "portability", contact, None),
                                     ("DSR-P-RECTIFY", "rectification", contact, None)))
    _requests(settings, tenant, at, (("DSR-P-UNVERIFIED", "access", None, email),), verified=False)

    result = process_requests(settings)

    assert result.erasure_run and result.outcomes.get("erased") == 1, result.outcomes
    assert not [e for e in result.exports if "DSR-P-" in e], "an export was written for the erased person"
    ids = ("DSR-P-ERASE", "DSR-P-ACCESS", "DSR-P-PORT", "DSR-P-RESTRICT", "DSR-P-RECTIFY")
    assert dict(query_rows(settings, "select request_id, (outcome, run_id) from lethe_meta.dsr_processed "
                                     f"where request_id in {ids}")) == dict.fromkeys(ids, ("erased", result.erasure_run))
    assert query_rows(settings, "select request_id, status, processing_outcome from marts.fct_dsr_requests "
                                f"where request_id in {ids} order by 1") == [(r, "done", "erased") for r in sorted(ids)]
    assert query_rows(settings, "select count(*) from lethe_meta.dsr_processed "
                                "where request_id = 'DSR-P-UNVERIFIED'") == [(0,)]

    # asked after the erasure: by the erased Contact Id, the same once the next run looks at it; by the erased
    # email alone, nobody Lethe can name
    _requests(settings, tenant, settings.as_of.replace(tzinfo=None), (("DSR-P-OBJECT", "objection", contact, None),
                                                                       ("DSR-P-BY-EMAIL", "access", None, email)))
    run_build(settings)  # as `lethe run` builds before it processes requests
    again = process_requests(settings)
    assert again.outcomes.get("objection erased") == 1, again.outcomes
    assert query_rows(settings, "select request_id, status, processing_outcome from marts.fct_dsr_requests "
                                "where request_id in ('DSR-P-OBJECT', 'DSR-P-BY-EMAIL') order by 1") == [
        ("DSR-P-BY-EMAIL", "open", "no_match"), ("DSR-P-OBJECT", "done", "erased")]
    # final: not looked at again
    assert not [k for k in process_requests(settings).outcomes if k.endswith(" erased")]


def test_crm_flags_on_an_individual_no_contact_belongs_to_are_carried_out(built: Path, tmp_path: Path) -> None:
    """Salesforce keeps an Individual (privacy flags, the consents it is party to) without a Contact, for one. Its
    ShouldForget matched nobody: `no_match`, looked at again on every run, overdue for ever, and its consents
    were never deleted. Now the Individual is the person: ShouldForget erases it and its consents (and tombstones
    it), SendIndividualData exports them, and both requests are done."""
    import json

    from lethe.dsr import process_requests
    from lethe.warehouse import connect

    settings = generated_home.copy(built, tmp_path / "h")
    tenant = generated_home.NO_HOLDS
    process_requests(settings)  # the home's own requests first
    at = settings.as_of.replace(tzinfo=None) - timedelta(days=1)
    con = connect(settings)
    try:
        for ind, forget, send in (("0PKLONE1", True, False), ("0PKLONE2", False, True)):
            con.execute("insert into raw.crm_individuals select * replace (? as id, ? as should_forget, "
                        "? as send_individual_data, false as has_opted_out_processing, ? as last_modified_date, "
                        "null as _should_forget_since, null as _send_individual_data_since, 'test' as _source_file) "
                        "from raw.crm_individuals where tenant_id = ? limit 1", [ind, forget, send, at, tenant])
            con.execute("insert into raw.crm_consents select * replace (? as id, ? as party_id, 'test' as _source_file) "
                        "from raw.crm_consents where tenant_id = ? limit 1", [f"LONE-CONSENT-{ind}", ind, tenant])
    finally:
        con.close()

    result = process_requests(settings)

    assert result.erasure_run and not [k for k in result.outcomes if "no_match" in k and "individual" in k]
    assert query_rows(settings, "select id from raw.crm_individuals where id like '0PKLONE%'") == [("0PKLONE2",)]
    assert query_rows(settings, "select party_id from raw.crm_consents where id like 'LONE-CONSENT-%'") == [("0PKLONE2",)]
    assert query_rows(settings, "select count(*) from lethe_meta.tombstones where kind = 'individual' and run_id = ?",
                      [result.erasure_run]) != [(0,)]
    assert dict(query_rows(settings, "select request_id, outcome from lethe_meta.dsr_processed "
                                     "where request_id like 'individual:0PKLONE%'")) == {
        "individual:0PKLONE1:erasure": "erased", "individual:0PKLONE2:access": "exported"}
    assert query_rows(settings, "select request_id, status from marts.fct_dsr_requests "
                                "where request_id like 'individual:0PKLONE%' order by 1") == [
        ("individual:0PKLONE1:erasure", "done"), ("individual:0PKLONE2:access", "done")]
    (export,) = [e for e in result.exports if "0PKLONE2" in e]
    assert "LONE-CONSENT-0PKLONE2" in json.dumps(json.loads(Path(export).read_text()))


def test_an_erasure_request_naming_two_people_erases_nobody_and_one_already_carried_out_is_done(
        built: Path, tmp_path: Path) -> None:
    """Two findings of one audit. (1) A request giving one person's Contact Id and another's email: lethe.dsr
    refuses it as ambiguous, but the marts took the Contact Id's person, put all their records in the due list
    with reason erasure_request, and the next `lethe purge` erased someone nobody had verified. It now names
    nobody (resolution `ambiguous`) and stays open for the DPO. (2) An erasure request whose person was erased by
    another route (`lethe dsar erase`, the retention purge) showed `no_match` and overdue forever: once the person
    is gone their Contact Id names nobody. Its identifier is tombstoned, so it is done."""
    from lethe.build import run_build
    from lethe.dsr import SubjectRef, erase_subject, process_requests

    settings = generated_home.copy(built, tmp_path / "h")
    tenant = generated_home.NO_HOLDS
    people = query_rows(settings, f"""
        select min(i.identity_value) as contact_id, i.subject_key
        from intermediate.int_subject_identities_resolved i join marts.dim_subjects d using (tenant_id, subject_key)
        where i.tenant_id = '{tenant}' and i.identity_kind = 'contact' and not d.is_erasure_requested
        group by i.subject_key order by 1 limit 3""")
    (a, a_key), (b, b_key), (c, _) = people
    (b_email,) = query_rows(settings, f"select email from raw.crm_contacts where tenant_id = '{tenant}' and id = '{b}'")[0]
    assert b_email and a_key != b_key
    at = settings.as_of.replace(tzinfo=None) - timedelta(days=2)
    _erasure_requests(settings, tenant, at, (("DSR-MIXED", a, b_email), ("DSR-ERASED-ELSEWHERE", c, None)))

    (c_email,) = query_rows(settings, f"select email from raw.crm_contacts where tenant_id = '{tenant}' and id = '{c}'")[0]
    erase_subject(settings, tenant, SubjectRef(contact_id=c))
    # (4) a request that came after that erasure, naming the erased person's Contact Id and a live person's email:
    # one of two people, as (1) (a live person never holds a tombstoned identifier). It was taken as the email's
    # person, who was erased though nobody knew whether they had asked. One naming the erased person's email alone
    # (asking again) names nobody else: done, as they were erased.
    _erasure_requests(settings, tenant, at, (("DSR-ERASED-AND-LIVE", c, b_email), ("DSR-ERASED-ASKED-AGAIN", None, c_email)))
    run_build(settings)

    assert query_rows(settings, "select request_id, resolution_status, subject_key from "
                                "intermediate.int_dsr_requests_resolved where request_id in "
                                "('DSR-MIXED', 'DSR-ERASED-AND-LIVE') order by 1") == [
        ("DSR-ERASED-AND-LIVE", "ambiguous", None), ("DSR-MIXED", "ambiguous", None)]
    due = query_rows(settings, "select count(*) from marts.retention_due where reason = 'erasure_request' "
                               f"and tenant_id = '{tenant}' and subject_key in (?, ?)", [a_key, b_key])
    assert due == [(0,)], "a request naming two people made one of them due for erasure"
    status = dict((r, (s, found)) for r, s, found in query_rows(
        settings, "select request_id, status, is_subject_found from marts.fct_dsr_requests "
                  "where request_id in ('DSR-MIXED', 'DSR-ERASED-ELSEWHERE', 'DSR-ERASED-AND-LIVE', "
                  "'DSR-ERASED-ASKED-AGAIN')"))
    assert status == {"DSR-MIXED": ("open", False), "DSR-ERASED-ELSEWHERE": ("done", False),
                      "DSR-ERASED-AND-LIVE": ("open", False), "DSR-ERASED-ASKED-AGAIN": ("done", False)}, status
    # the request processing says the same: erased before (final, not looked at again), and ambiguous. The erasure
    # of C closed the request of C's it blanked when it was done (DSR-ERASED-ELSEWHERE); the one made after it
    # is closed here
    result = process_requests(settings)
    assert result.outcomes.get("erased before") == 1, result.outcomes
    assert dict(query_rows(settings, "select request_id, outcome from lethe_meta.dsr_processed where request_id in "
                                     "('DSR-MIXED', 'DSR-ERASED-ELSEWHERE', 'DSR-ERASED-AND-LIVE')")) == {
        "DSR-MIXED": "ambiguous", "DSR-ERASED-ELSEWHERE": "erased", "DSR-ERASED-AND-LIVE": "ambiguous"}
    assert "erased before" not in process_requests(settings).outcomes
    assert query_rows(settings, f"select count(*) from raw.crm_contacts where tenant_id = '{tenant}' "
                                "and id in (?, ?)", [a, b]) == [(2,)], "a request naming two people erased one"

    # (3) the Contact Id's person is then erased by another route. The erasure blanks the request's email (the
    # other person's), so it names nobody, and its Contact Id is tombstoned: it was closed as 'erased', though the
    # requester may have been the email's person, never erased. A request once found naming two people stays open.
    # (5) so must one of the same two identifiers that Lethe had not processed yet when the erasure came (received
    # just before it): the erasure blanked its email as it blanked the other's, and it was then closed as erased.
    # And one naming them the other way round (b's Contact Id, a's email): the erasure blanks a's email from it, after
    # which it names b alone, and b was erased on it.
    (a_email,) = query_rows(settings, f"select email from raw.crm_contacts where tenant_id = '{tenant}' and id = '{a}'")[0]
    _erasure_requests(settings, tenant, at, (("DSR-MIXED-UNSEEN", a, b_email), ("DSR-MIXED-SWAPPED", b, a_email)))
    erase_subject(settings, tenant, SubjectRef(contact_id=a))
    run_build(settings)
    process_requests(settings)
    run_build(settings)
    mixed = ("DSR-MIXED", "DSR-MIXED-UNSEEN", "DSR-MIXED-SWAPPED")
    assert dict(query_rows(settings, f"select request_id, outcome from lethe_meta.dsr_processed "
                                     f"where request_id in {mixed}")) == dict.fromkeys(mixed, "ambiguous")
    assert query_rows(settings, "select request_id, status, processing_outcome from marts.fct_dsr_requests "
                                f"where request_id in {mixed} order by 1") == [
        (r, "open", "ambiguous") for r in sorted(mixed)]
    assert query_rows(settings, "select count(*) from marts.retention_due where reason = 'erasure_request' "
                                f"and tenant_id = '{tenant}' and subject_key = ?", [b_key]) == [(0,)]
    assert query_rows(settings, f"select count(*) from raw.crm_contacts where tenant_id = '{tenant}' "
                                "and id = ?", [b]) == [(1,)]


def test_an_extension_told_in_time_moves_the_due_date_and_one_told_late_does_not(built: Path, tmp_path: Path) -> None:
    from lethe.build import run_build
    from lethe.ingest import run_ingest
    from lethe.publish import publish
    from lethe.status import compute_status

    settings = generated_home.copy(built, tmp_path / "h")
    overdue_before = compute_status(settings)["dsr_overdue"]
    folder = settings.landing / NO_HOLDS / "crm" / "dsr_requests" / "2026" / "10"
    folder.mkdir(parents=True, exist_ok=True)
    # as of 2026-11-01, 30 days to answer (the tenant's generated policy): received 2026-09-20, first due 2026-10-20
    (folder / "extended.csv").write_text(
        "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details,"
        "extension_notified_at\n"
        "ext-in-time,2026-09-20T10:00:00Z,access,,nobody-1@example.org,,2026-09-21T10:00:00Z,,2026-10-05T09:00:00Z\n"
        "ext-too-late,2026-09-20T10:00:00Z,access,,nobody-2@example.org,,2026-09-21T10:00:00Z,,2026-10-25T09:00:00Z\n"
        "ext-none,2026-09-20T10:00:00Z,access,,nobody-3@example.org,,2026-09-21T10:00:00Z,,\n"
    )
    (folder / "old-format.csv").write_text(  # a file from before the column: it loads as it did
        "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details\n"
        "old-format,2026-09-20T10:00:00Z,access,,nobody-4@example.org,,2026-09-21T10:00:00Z,\n"
    )

    run_ingest(settings, landing=settings.landing)
    run_build(settings)
    publish(settings)

    rows = query_rows(settings, "select request_id, is_extended, due_at, status from marts.fct_dsr_requests "
                                "where request_id in ('ext-in-time', 'ext-too-late', 'ext-none', 'old-format') "
                                "order by request_id")
    first, extended = datetime(2026, 10, 20, 10), datetime(2026, 12, 20, 10)
    assert rows == [
        ("ext-in-time", True, extended, "open"),
        ("ext-none", False, first, "overdue"),
        ("ext-too-late", False, first, "overdue"),
        ("old-format", False, first, "overdue"),
    ]
    assert query_rows(settings, "select count(*) from quarantine.rows where dataset = 'dsr_requests'") == [(0,)]
    assert compute_status(settings)["dsr_overdue"] == overdue_before + 3


def test_a_home_loaded_before_the_column_existed_builds_before_its_next_ingest(built: Path, tmp_path: Path) -> None:
    """The raw table of a home ingested by older code lacks the new column, and every staging view selects each
    contract column: the build failed (Binder Error: column "extension_notified_at" not found) until an ingest
    created it. The build adds what the contracts gained."""
    import duckdb

    from lethe.build import run_build

    settings = generated_home.copy(built, tmp_path / "h")
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("alter table raw.dsr_requests drop column extension_notified_at")
    finally:
        con.close()

    run_build(settings)

    [(requests, extended)] = query_rows(
        settings, "select count(*), count(*) filter (where is_extended) from marts.fct_dsr_requests")
    assert requests > 0 and extended == 0


def _people_with_due_records(settings, limit: int) -> list[tuple[str, str, str]]:
    """(a CRM contact id, its email, subject key) of the people of NO_HOLDS with the most records past their
    retention who are neither held, restricted nor asking for erasure, and have an email."""
    return query_rows(settings, f"""
        select min(c.id), min(c.email), d.subject_key from marts.retention_due d
        join intermediate.int_subject_identities_resolved i using (tenant_id, subject_key)
        join marts.dim_subjects s using (tenant_id, subject_key)
        join raw.crm_contacts c on c.tenant_id = d.tenant_id and c.id = i.identity_value
        where d.tenant_id = '{NO_HOLDS}' and i.identity_kind = 'contact' and d.reason = 'retention_expired'
            and not s.is_restricted and not s.is_erasure_requested and not s.is_under_legal_hold
            and c.email is not null
        group by d.subject_key order by count(*) desc, d.subject_key limit {limit}""")


def test_a_restriction_an_ingest_brought_after_the_last_build_stops_a_purge_run_before_the_next_build(
    built: Path, tmp_path: Path
) -> None:
    """`lethe purge` on its own after an ingest (no build in between) planned from the marts of the last build,
    which had not seen a restriction request the ingest brought: it deleted what the restriction keeps. The purge
    now also reads standing restrictions from the raw layer, as it reads legal holds. The request names the
    person by email only, in capitals."""
    from lethe.ingest import run_ingest
    from lethe.purge import run_purge

    settings = generated_home.copy(built, tmp_path / "h")
    [(_, email, subject_key)] = _people_with_due_records(settings, 1)
    due = set(query_rows(settings, "select source_table, record_id from marts.retention_due "
                                   f"where tenant_id = '{NO_HOLDS}' and subject_key = '{subject_key}'"))
    others = query_rows(settings, "select count(*) from marts.retention_due "
                                  f"where tenant_id = '{NO_HOLDS}' and subject_key <> '{subject_key}'")[0][0]
    assert due and others
    folder = settings.landing / NO_HOLDS / "crm" / "dsr_requests" / "2026" / "10"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "restriction.csv").write_text(
        "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details\n"
        f"restrict-2,2026-10-01T09:00:00Z,restriction,,{email.upper()},,2026-10-01T10:00:00Z,\n")

    run_ingest(settings, landing=settings.landing)
    result = run_purge(settings, dry_run=False)  # planned from the marts of the build before the ingest

    assert sum(a.record_count for a in result.actions if a.tenant == NO_HOLDS) >= others, (
        "the purge did not plan the others' due records")
    assert query_rows(settings, f"select count(*) from marts.retention_due where tenant_id = '{NO_HOLDS}'") == [(0,)]
    # the purge's rebuild judged the restriction as the marts do: kept, not due
    assert due <= set(query_rows(settings, "select source_table, record_id from marts.fct_retention_status "
                                           f"where tenant_id = '{NO_HOLDS}' and subject_key = '{subject_key}' "
                                           "and is_restricted and not is_due"))


def test_a_restriction_request_the_build_found_naming_two_people_keeps_neither_ones_records(
    built: Path, tmp_path: Path
) -> None:
    """The purge reads restriction requests from the raw layer too (above), matching an email to every contact
    holding it. One the last build found naming two people (a household email) restricts nobody, as in the marts:
    it is never guessed, and the purge must not keep both people's records past their retention because of it."""
    from lethe.build import run_build
    from lethe.purge import run_purge
    from lethe.warehouse import connect

    settings = generated_home.copy(built, tmp_path / "h")
    (_, email, first), (other_contact, _, second) = _people_with_due_records(settings, 2)
    at = settings.as_of.replace(tzinfo=None)
    con = connect(settings)
    con.execute("update raw.crm_contacts set email = ? where tenant_id = ? and id = ?", [email, NO_HOLDS, other_contact])
    con.execute("insert into raw.dsr_requests (tenant_id, request_id, received_at, type, subject_email, verified_at, "
                "_source_file, _source_row, _batch_id, _loaded_at) values (?, 'restrict-both', ?, 'restriction', ?, ?, "
                "'test', 0, 'test', now())", [NO_HOLDS, at, email, at])
    con.close()
    run_build(settings)
    assert query_rows(settings, "select resolution_status, subject_key from intermediate.int_dsr_requests_resolved "
                                "where request_id = 'restrict-both'") == [("ambiguous", None)]
    due = query_rows(settings, f"select count(*) from marts.retention_due where tenant_id = '{NO_HOLDS}' "
                               f"and subject_key in ('{first}', '{second}')")[0][0]
    assert due

    run_purge(settings, dry_run=False)

    assert query_rows(settings, f"select count(*) from marts.retention_due where tenant_id = '{NO_HOLDS}'") == [(0,)], (
        "the purge kept records of the people an ambiguous restriction request named")


def test_a_restriction_request_naming_an_address_no_crm_contact_holds_keeps_its_records(
    built: Path, tmp_path: Path
) -> None:
    """Someone Lethe knows only by an address (an email its mailings reached, no CRM contact) asks for restriction.
    The marts restrict that unresolved subject from the next build on; a `lethe purge` before that build deleted
    their mails anyway, as the purge's own reading of the raw layer matched requests to CRM contacts only."""
    from lethe.build import run_build
    from lethe.purge import run_purge
    from lethe.warehouse import connect

    settings = generated_home.copy(built, tmp_path / "h")
    stranger = "stranger.only.mailed@example.com"
    con = connect(settings)
    con.execute("insert into raw.email_events (tenant_id, sg_event_id, email, event_at, event, sg_message_id, "
                "_source_file, _source_row, _batch_id, _loaded_at) select ?, 'ev-stranger-' || i, ?, "
                "timestamp '2025-01-01 09:00:00' + to_days(i::integer), 'delivered', 'msg-stranger-' || i, "
                "'test', 0, 'test', now() from range(2) t(i)", [NO_HOLDS, stranger])
    con.close()
    run_build(settings)
    assert query_rows(settings, "select count(*) from marts.retention_due where source_table = 'email_events' "
                                "and record_id like 'ev-stranger-%'") == [(2,)]
    at = settings.as_of.replace(tzinfo=None)
    con = connect(settings)
    con.execute("insert into raw.dsr_requests (tenant_id, request_id, received_at, type, subject_email, verified_at, "
                "_source_file, _source_row, _batch_id, _loaded_at) values (?, 'restrict-stranger', ?, 'restriction', "
                "?, ?, 'test', 0, 'test', now())", [NO_HOLDS, at, stranger, at])
    con.close()

    run_purge(settings, dry_run=False)

    assert query_rows(settings, "select count(*) from raw.email_events where email = ?", [stranger]) == [(2,)]
    assert query_rows(settings, f"select count(*) from marts.retention_due where tenant_id = '{NO_HOLDS}'") == [(0,)], (
        "the purge did not delete the others' due records")


def test_a_restriction_is_honoured_by_a_purge_of_a_raw_layer_without_individuals_or_lift_dates(
    built: Path, tmp_path: Path
) -> None:
    """A tenant's CRM export may have no Individual objects (raw.crm_individuals never loaded). The purge's plan
    then failed on any restriction request (a query's column names came from a part that only runs with
    Individuals): the whole purge stopped. So it did on a warehouse whose raw.dsr_requests predates the optional
    restriction_lifted_at column, when a standalone purge ran before the build that adds it. It plans, keeping
    the restricted person's records."""
    from lethe.dsr import SubjectRef, record_request
    from lethe.purge import run_purge
    from lethe.warehouse import connect

    settings = generated_home.copy(built, tmp_path / "h")
    [(contact_id, _, subject_key)] = _people_with_due_records(settings, 1)
    theirs = query_rows(settings, f"select count(*) from marts.retention_due where tenant_id = '{NO_HOLDS}' "
                                  f"and subject_key = '{subject_key}'")[0][0]
    assert theirs
    con = connect(settings)
    con.execute("drop table raw.crm_individuals")
    con.close()

    def planned() -> int:
        return sum(a.record_count for a in run_purge(settings, dry_run=True).actions
                   if a.tenant == NO_HOLDS and a.reason == "retention_expired")

    before = planned()
    record_request(settings, NO_HOLDS, SubjectRef(contact_id=contact_id), "restrict")
    assert 0 < planned() <= before - theirs
    con = connect(settings)
    con.execute("alter table raw.dsr_requests drop column restriction_lifted_at")
    con.close()

    assert 0 < planned() <= before - theirs


def test_a_restriction_keeps_the_subjects_records_past_their_retention_until_it_is_lifted(
    built: Path, tmp_path: Path
) -> None:
    from lethe.build import run_build
    from lethe.dsr import process_requests
    from lethe.ingest import run_ingest
    from lethe.purge import run_purge

    settings = generated_home.copy(built, tmp_path / "h")
    # a person with records past their retention, neither held, restricted nor asking for erasure
    [(contact_id, subject_key)] = query_rows(settings, f"""
        select min(i.identity_value), d.subject_key from marts.retention_due d
        join intermediate.int_subject_identities_resolved i using (tenant_id, subject_key)
        join marts.dim_subjects s using (tenant_id, subject_key)
        where d.tenant_id = '{NO_HOLDS}' and i.identity_kind = 'contact' and d.reason = 'retention_expired'
            and not s.is_restricted and not s.is_erasure_requested and not s.is_under_legal_hold
        group by d.subject_key order by count(*) desc, d.subject_key limit 1""")
    due = set(query_rows(settings, "select source_table, record_id from marts.retention_due "
                                   f"where tenant_id = '{NO_HOLDS}' and subject_key = '{subject_key}'"))
    assert due
    folder = settings.landing / NO_HOLDS / "crm" / "dsr_requests" / "2026" / "10"
    folder.mkdir(parents=True, exist_ok=True)
    header = "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details"
    (folder / "restriction.csv").write_text(
        f"{header}\nrestrict-1,2026-10-01T09:00:00Z,restriction,{contact_id},,,2026-10-01T10:00:00Z,\n")

    def records_kept() -> set[tuple]:
        return set(query_rows(settings, "select source_table, record_id from marts.fct_retention_status "
                                        f"where tenant_id = '{NO_HOLDS}' and subject_key = '{subject_key}'"))

    run_ingest(settings, landing=settings.landing)
    run_build(settings)
    assert query_rows(settings, "select count(*) from marts.retention_due "
                                f"where tenant_id = '{NO_HOLDS}' and subject_key = '{subject_key}'") == [(0,)]
    assert query_rows(settings, "select bool_and(is_restricted), bool_or(is_due) from marts.fct_retention_status "
                                f"where tenant_id = '{NO_HOLDS}' and subject_key = '{subject_key}'") == [(True, False)]
    run_purge(settings, dry_run=False)  # everyone else's due records go; theirs stay
    assert query_rows(settings, f"select count(*) from marts.retention_due where tenant_id = '{NO_HOLDS}'") == [(0,)]
    assert due <= records_kept()

    # the controller lifts it (having told the requester, Art. 18(3)): the same request, delivered again
    (folder / "restriction-lifted.csv").write_text(
        f"{header},restriction_lifted_at\n"
        f"restrict-1,2026-10-01T09:00:00Z,restriction,{contact_id},,,2026-10-01T10:00:00Z,,2026-10-20T09:00:00Z\n")
    run_ingest(settings, landing=settings.landing)
    run_build(settings)
    assert set(query_rows(settings, "select source_table, record_id from marts.retention_due "
                                    f"where tenant_id = '{NO_HOLDS}' and subject_key = '{subject_key}'")) == due
    run_purge(settings, dry_run=False)
    assert not due & records_kept()
    # no build showed it standing when the requests were processed: a restriction lifted since has run its course
    process_requests(settings)
    assert query_rows(settings, "select status, processing_outcome from marts.fct_dsr_requests "
                                "where request_id = 'restrict-1'") == [("done", "applied")]
