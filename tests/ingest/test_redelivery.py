"""Re-delivered records of the Lethe-format sources: agents keep their training history; a later delivery of a
breach, a data-subject request or a legal hold replaces the earlier one."""

from __future__ import annotations

from pathlib import Path

from ingest_helpers import TENANT, query

from lethe import tombstones
from lethe.ingest import run_ingest
from lethe.keys import keyed_hash
from lethe.warehouse import connect

DSR_HEADER = "request_id,received_at,type,crm_contact_id,subject_email,subject_phone,verified_at,details\n"
HOLD_HEADER = "hold_id,crm_contact_id,subject_email,reason,start_date,end_date\n"
BREACH_HEADER = ("breach_id,tenant_id,detected_at,description,data_categories,subjects_affected,"
                 "authority_notified_at,subjects_notified_at\n")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _source(summary, dataset: str):
    return {s.dataset: s for s in summary.sources}[dataset]


def test_renewed_training_in_a_later_file_is_kept_beside_the_first(settings, landing):
    run_ingest(settings, landing, families=["centre"])
    _write(landing / "_centre" / "agents" / "2024" / "agents-renewed.csv",
           "agent_username,tenant_id,training_completed_at,exam_score\n"
           "agent.lee,acme-energy,2023-12-01T00:00:00Z,96\n"
           "agent.jones,acme-energy,2023-06-01T00:00:00Z,95\n")  # the same training again: a duplicate
    summary = run_ingest(settings, landing, families=["centre"])
    agents = _source(summary, "agents")
    assert (agents.loaded, agents.replaced, agents.duplicates_skipped) == (1, 0, 1)
    assert query(settings, "select cast(training_completed_at as varchar), exam_score from raw.agents "
                           "where agent_username = 'agent.lee' order by 1") == [
        ("2022-01-01 00:00:00", 88), ("2023-12-01 00:00:00", 96)]
    assert query(settings, "select count(*) from raw.agents where agent_username = 'agent.jones'") == [(1,)]


def test_breach_notified_in_a_later_file_replaces_the_open_one(settings, landing):
    _write(landing / "_centre" / "breaches" / "2024" / "open.csv",
           BREACH_HEADER + "br-2,acme-energy,2024-01-10T08:00:00Z,Lost laptop,crm.contact,40,,\n")
    run_ingest(settings, landing, families=["centre"])
    _write(landing / "_centre" / "breaches" / "2024" / "a-update.csv",  # sorts before the first: loaded later wins
           BREACH_HEADER + "br-2,acme-energy,2024-01-10T08:00:00Z,Lost laptop,crm.contact,40,2024-01-11T09:00:00Z,\n")
    summary = run_ingest(settings, landing, families=["centre"])
    breaches = _source(summary, "breaches")
    assert (breaches.loaded, breaches.replaced, breaches.duplicates_skipped) == (1, 1, 0)
    assert "(1 replacing an earlier copy), 0 duplicates skipped" in summary.render()
    assert query(settings, "select cast(authority_notified_at as varchar), _source_file from raw.breaches "
                           "where breach_id = 'br-2'") == [
        ("2024-01-11 09:00:00", "_centre/breaches/2024/a-update.csv")]


def test_request_verified_in_a_later_file_is_verified(settings, landing):
    run_ingest(settings, landing, families=["crm"])
    late = _write(landing / TENANT / "crm" / "dsr_requests" / "2024" / "verified.csv",
                  DSR_HEADER + "dsr-2,2024-01-08T12:00:00Z,erasure,,BOB@EXAMPLE.ORG,,2024-01-09T10:00:00Z,\n")
    summary = run_ingest(settings, landing, families=["crm"])
    dsr = _source(summary, "dsr_requests")
    assert (dsr.loaded, dsr.replaced, dsr.duplicates_skipped) == (1, 1, 0)
    assert query(settings, "select cast(verified_at as varchar), subject_email, _source_file, _source_row "
                           "from raw.dsr_requests where request_id = 'dsr-2'") == [
        ("2024-01-09 10:00:00", "bob@example.org", f"{TENANT}/crm/dsr_requests/2024/verified.csv", 1)]
    # the purge still finds the first delivery's line: the replaced row is recorded as a copy
    assert query(settings, "select source_file from lethe_meta.record_copies "
                           "where dataset = 'dsr_requests' and record_id = 'dsr-2'") == [
        (f"{TENANT}/crm/dsr_requests/dsr.csv",)]
    assert late.exists()


def test_within_one_batch_the_later_file_and_row_win(settings, landing):
    _write(landing / TENANT / "crm" / "legal_holds" / "2024" / "b.csv",
           HOLD_HEADER + "hold-2,003A000003,,Claim,2023-12-01,\nhold-2,003A000003,,Claim,2023-12-01,2024-01-15\n")
    _write(landing / TENANT / "crm" / "legal_holds" / "2024" / "a.csv",
           HOLD_HEADER + "hold-2,003A000003,,Claim,2023-12-01,2024-01-05\n")
    summary = run_ingest(settings, landing, families=["crm"])
    holds = _source(summary, "legal_holds")
    # hold-1 and hold-2 loaded; the older file's copy of hold-2 is a duplicate; b.csv's first row, which the same
    # file contradicts, is quarantined saying so (it was counted as a duplicate, unseen)
    assert (holds.loaded, holds.duplicates_skipped, holds.quarantined_rows) == (2, 1, 1)
    assert query(settings, "select cast(end_date as varchar), _source_file, _source_row from raw.legal_holds "
                           "where hold_id = 'hold-2'") == [("2024-01-15", f"{TENANT}/crm/legal_holds/2024/b.csv", 2)]
    assert query(settings, "select source_file, source_row, rule, reason from quarantine.rows") == [
        (f"{TENANT}/crm/legal_holds/2024/b.csv", 1, "conflict:hold_id",
         "hold_id comes again later in this file with other values: the file's last row for it was loaded, this one "
         "was not (deliver a correction as a new file)")]
    copies = query(settings, "select source_file, source_row from lethe_meta.record_copies "
                             "where dataset = 'legal_holds' and record_id = 'hold-2' order by 1, 2")
    assert copies == [(f"{TENANT}/crm/legal_holds/2024/a.csv", 1)]


def test_one_request_id_twice_in_a_file_with_other_values_is_not_passed_over_as_a_duplicate(settings, landing):
    """dsr-30 twice in one export, an access request and then an erasure: the file's last row is loaded (as a later
    row of one delivery wins) and the other is quarantined with the reason; dsr-31 repeated field for field is a
    plain duplicate. Before, both repeats were counted as duplicates and the access request was never seen."""
    _write(landing / TENANT / "crm" / "dsr_requests" / "2024" / "twice.csv", DSR_HEADER
           + "dsr-30,2024-01-08T12:00:00Z,access,,carol@example.org,,,\n"
           + "dsr-31,2024-01-09T12:00:00Z,objection,,dave@example.org,,,\n"
           + "dsr-30,2024-01-08T12:00:00Z,erasure,,carol@example.org,,,\n"
           + "dsr-31,2024-01-09T12:00:00Z,objection,,dave@example.org,,,\n")
    summary = run_ingest(settings, landing, families=["crm"])
    dsr = _source(summary, "dsr_requests")
    assert dsr.quarantined_rows == 1 and dsr.duplicates_skipped == 1
    assert query(settings, "select request_id, type, _source_row from raw.dsr_requests "
                           "where request_id in ('dsr-30', 'dsr-31') order by 1") == [
        ("dsr-30", "erasure", 3), ("dsr-31", "objection", 4)]
    assert query(settings, "select source_file, source_row, rule from quarantine.rows") == [
        (f"{TENANT}/crm/dsr_requests/2024/twice.csv", 1, "conflict:request_id")]
    assert "1 row(s): request_id comes again later in this file with other values" in summary.render()


def test_hold_ended_in_a_later_file_ends_and_a_plain_repeat_is_a_duplicate(settings, landing):
    run_ingest(settings, landing, families=["crm"])
    _write(landing / TENANT / "crm" / "legal_holds" / "2024" / "ended.csv",
           HOLD_HEADER + "hold-1,003A000002,bob@example.org,Billing dispute claim,2023-11-01,2024-01-20\n")
    _write(landing / TENANT / "crm" / "dsr_requests" / "2024" / "again.csv",
           DSR_HEADER + "dsr-2,2024-01-08T12:00:00Z,erasure,,BOB@EXAMPLE.ORG,,,\n")
    summary = run_ingest(settings, landing, families=["crm"])
    holds, dsr = _source(summary, "legal_holds"), _source(summary, "dsr_requests")
    assert (holds.loaded, holds.replaced, holds.duplicates_skipped) == (1, 1, 0)
    assert (dsr.loaded, dsr.replaced, dsr.duplicates_skipped) == (0, 0, 1)
    assert query(settings, "select cast(end_date as varchar) from raw.legal_holds where hold_id = 'hold-1'") == [
        ("2024-01-20",)]
    assert query(settings, "select _source_file from raw.dsr_requests where request_id = 'dsr-2'") == [
        (f"{TENANT}/crm/dsr_requests/dsr.csv",)]
    again = run_ingest(settings, landing, families=["crm"])  # nothing new: the same files are not loaded again
    assert again.sources == ()


def test_redelivered_request_of_an_erased_subject_does_not_bring_back_their_data(settings, landing):
    run_ingest(settings, landing, families=["crm"])
    con = connect(settings)
    tombstones.ensure(con)
    con.execute("insert into lethe_meta.tombstones values (?, ?, ?, now()::timestamp, 'run-1')",
                [TENANT, "email", keyed_hash(settings.secret_key, TENANT, "email", "bob@example.org")])
    con.execute("update raw.dsr_requests set subject_email = null where request_id = 'dsr-2'")  # as the purge does
    con.close()
    _write(landing / TENANT / "crm" / "dsr_requests" / "2024" / "again.csv",
           DSR_HEADER + "dsr-2,2024-01-08T12:00:00Z,erasure,,BOB@EXAMPLE.ORG,,2024-01-09T10:00:00Z,\n")
    summary = run_ingest(settings, landing, families=["crm"])
    assert _source(summary, "dsr_requests").duplicates_skipped == 1
    assert query(settings, "select subject_email from raw.dsr_requests where request_id = 'dsr-2'") == [(None,)]


def test_untrained_agent_delivered_again_is_one_row(settings, landing):
    first = _write(landing / "_centre" / "agents" / "2024" / "a-new-agent.csv",
                   "agent_username,tenant_id,training_completed_at,exam_score\nagent.new,acme-energy,,\n")
    run_ingest(settings, landing, families=["centre"])
    _write(first.with_name("b-new-agent-again.csv"), first.read_text())
    agents = _source(run_ingest(settings, landing, families=["centre"]), "agents")
    assert (agents.loaded, agents.duplicates_skipped) == (0, 1)
    assert query(settings, "select count(*) from raw.agents where agent_username = 'agent.new'") == [(1,)]


INDIVIDUAL_HEADER = ("Id,HasOptedOutProcessing,HasOptedOutProfiling,HasOptedOutSolicit,ShouldForget,SendIndividualData,"
                     "LastModifiedDate\n")


def test_a_request_flag_keeps_when_it_was_first_set_across_later_edits(settings, landing):
    """SendIndividualData set on 2024-01-05 and still set on a later edit (the person objected to profiling on
    2024-03-01) was requested on 2024-01-05: before, the raw row kept only the latest LastModifiedDate, so every
    edit re-dated the request, restarting its SLA (an overdue request went back to open). Cleared and set again,
    it is a new request, dated by the version that set it again."""
    def individuals() -> list[tuple]:
        return query(settings, "select cast(last_modified_date as varchar), send_individual_data, "
                               "cast(_send_individual_data_since as varchar), cast(_should_forget_since as varchar) "
                               "from raw.crm_individuals where id = '0PKA000003'")

    run_ingest(settings, landing, families=["crm"])
    assert individuals() == [("2024-01-05 00:00:00", True, "2024-01-05 00:00:00", None)]
    folder = landing / TENANT / "crm" / "individuals"
    _write(folder / "2024-03.csv", INDIVIDUAL_HEADER + "0PKA000003,false,true,false,false,true,2024-03-01T00:00:00Z\n")
    run_ingest(settings, landing, families=["crm"])
    assert individuals() == [("2024-03-01 00:00:00", True, "2024-01-05 00:00:00", None)]
    _write(folder / "2024-04.csv", INDIVIDUAL_HEADER + "0PKA000003,false,true,false,false,false,2024-04-01T00:00:00Z\n")
    _write(folder / "2024-05.csv", INDIVIDUAL_HEADER + "0PKA000003,false,true,false,true,true,2024-05-01T00:00:00Z\n")
    run_ingest(settings, landing, families=["crm"])  # the two files in one batch: only the later version is seen
    assert individuals() == [("2024-05-01 00:00:00", True, "2024-01-05 00:00:00", "2024-05-01 00:00:00")]
    _write(folder / "2024-06.csv", INDIVIDUAL_HEADER + "0PKA000003,false,true,false,true,false,2024-06-01T00:00:00Z\n")
    run_ingest(settings, landing, families=["crm"])
    _write(folder / "2024-07.csv", INDIVIDUAL_HEADER + "0PKA000003,false,true,false,true,true,2024-07-01T00:00:00Z\n")
    run_ingest(settings, landing, families=["crm"])
    assert individuals() == [("2024-07-01 00:00:00", True, "2024-07-01 00:00:00", "2024-05-01 00:00:00")]


def test_an_agent_or_breach_naming_no_tenant_of_the_policy_file_is_quarantined(settings, landing):
    """'acme-enrgy' loaded: the agent matched none of acme-energy's contacts, whose calls then showed as handled
    without valid training, and the breach stood under a client the centre does not serve."""
    _write(landing / "_centre" / "agents" / "2024" / "typo.csv",
           "agent_username,tenant_id,training_completed_at,exam_score\n"
           "agent.kim,acme-enrgy,2024-01-02T00:00:00Z,97\nagent.kim,acme-energy,2024-01-03T00:00:00Z,98\n")
    _write(landing / "_centre" / "breaches" / "2024" / "typo.csv",
           BREACH_HEADER + "br-9,acme-enrgy,2024-01-10T08:00:00Z,Lost laptop,crm.contact,4,,\n")
    summary = run_ingest(settings, landing, families=["centre"])
    assert _source(summary, "agents").quarantined_rows == 1 and _source(summary, "breaches").quarantined_rows == 1
    assert query(settings, "select tenant_id from raw.agents where agent_username = 'agent.kim'") == [("acme-energy",)]
    assert query(settings, "select count(*) from raw.breaches where breach_id = 'br-9'") == [(0,)]
    assert query(settings, "select dataset, source_row, rule, reason from quarantine.rows order by 1") == [
        ("agents", 1, "tenant:tenant_id", f"tenant_id is not a tenant in the tenant policy file {settings.tenants_file}"),
        ("breaches", 1, "tenant:tenant_id", f"tenant_id is not a tenant in the tenant policy file {settings.tenants_file}")]
