"""Guards refuse a purge with one clear line and delete nothing; the Airflow steps persist the plan between calls."""

from __future__ import annotations

import os

import duckdb
import pytest
from purge_scenario import TENANT, landing_digest, table_counts

from lethe.audit import read_entries
from lethe.errors import GuardError
from lethe.purge import check_guards, execute, plan_step, run_purge, verify
from lethe.settings import Settings


def _unchanged(settings: Settings, before: tuple) -> bool:
    return (landing_digest(settings), table_counts(settings)) == before


def test_plan_on_a_batch_that_failed_its_contract_is_refused(scenario: Settings) -> None:
    con = duckdb.connect(str(scenario.warehouse))
    batch = con.execute("select _batch_id from raw.crm_contacts limit 1").fetchone()[0]
    con.execute(
        "insert into lethe_meta.validation_results (dataset, tenant_id, batch_id, expectation, rule, column_name, "
        "success, unexpected_count, element_count, sql_unexpected_count, validated_at, quarantined_count) values "
        "('crm_contacts', ?, ?, 'expect_column_values_to_not_be_null', 'required:email', 'email', false, 5, 16, 5, "
        "now(), 0)",
        [TENANT, batch],
    )
    con.close()
    before = (landing_digest(scenario), table_counts(scenario))
    with pytest.raises(GuardError, match=rf"raw\.crm_contacts rows of batch {batch}, which failed its data contract"):
        run_purge(scenario, dry_run=False)
    assert _unchanged(scenario, before)
    assert [e["event"] for e in read_entries(scenario.audit_log)] == ["purge.planned", "purge.refused"]


def test_failed_expectations_whose_rows_were_quarantined_do_not_block(scenario: Settings) -> None:
    # the bad email event was quarantined by ingest; its failed expectation is not a failed batch
    con = duckdb.connect(str(scenario.warehouse), read_only=True)
    failed = con.execute("select count(*) from lethe_meta.validation_results where not success").fetchone()[0]
    con.close()
    assert failed >= 1
    assert run_purge(scenario, dry_run=False).counts


def test_policy_file_changed_since_the_plan_is_refused(scenario: Settings) -> None:
    plan = plan_step(scenario)
    before = (landing_digest(scenario), table_counts(scenario))
    scenario.tenants_file.write_text(scenario.tenants_file.read_text().replace("interaction.recording: 90",
                                                                                "interaction.recording: 60"))
    with pytest.raises(GuardError, match=r"tenants\.yml changed since plan .* was made"):
        check_guards(scenario, plan.run_id)
    assert _unchanged(scenario, before)


def test_an_abandoned_plan_is_never_revived(scenario: Settings) -> None:
    """A purge begun between the DAG's plan and its guards (`lethe dsar erase`, say) abandons the DAG's plan;
    before, check_guards set it running again and execute carried it out, on marts and holds that may have
    changed, with an audit log saying planned, abandoned, completed for the same run."""
    from lethe.purge import resume_unfinished

    plan = plan_step(scenario)
    resume_unfinished(scenario)
    before = (landing_digest(scenario), table_counts(scenario))
    with pytest.raises(GuardError, match=rf"purge run {plan.run_id} is abandoned, not planned: plan again"):
        check_guards(scenario, plan.run_id)
    with pytest.raises(GuardError):
        execute(scenario, plan.run_id)
    assert _unchanged(scenario, before)
    assert [e["event"] for e in read_entries(scenario.audit_log) if e.get("run_id") == plan.run_id] == [
        "purge.planned", "purge.abandoned"]


def test_airflow_steps_run_separately_on_the_persisted_plan(scenario: Settings) -> None:
    plan = plan_step(scenario)
    assert plan.record_count > 0
    check_guards(scenario, plan.run_id)
    counts = execute(scenario, plan.run_id)
    assert any(target == "raw.crm_contacts" for _, _, target, _, _ in counts)
    verify(scenario, plan.run_id)
    con = duckdb.connect(str(scenario.warehouse), read_only=True)
    status = con.execute("select status, phase from lethe_meta.purge_runs where run_id = ?", [plan.run_id]).fetchone()
    con.close()
    assert status == ("done", "publish")  # the last phase: verify audits the completion, then re-publishes


def test_exports_older_than_the_dsr_sla_are_deleted(scenario: Settings) -> None:
    folder = scenario.exports_dir / TENANT
    folder.mkdir(parents=True)
    old, fresh = folder / "abc.req-1.json", folder / "def.req-2.json"
    old.write_text("{}")
    fresh.write_text("{}")
    as_of = scenario.as_of.timestamp()
    os.utime(old, (as_of - 40 * 86400, as_of - 40 * 86400))  # older than dsr_sla_days (30)
    os.utime(fresh, (as_of - 2 * 86400, as_of - 2 * 86400))
    run_purge(scenario, dry_run=False)
    assert not old.exists() and fresh.exists()


def test_a_hold_register_lethe_cannot_read_right_refuses_the_purge_until_it_is_corrected(scenario: Settings) -> None:
    """Legal holds always win: a hold that ends before it starts (a typo that protects nobody) or one quarantined
    (a date that does not exist) may be the one protecting a record the plan deletes, so the purge refuses, with
    one line naming the hold, until a corrected register is delivered."""
    from purge_scenario import ERIN, ingest

    holds = scenario.landing / TENANT / "crm" / "legal_holds"
    header = "hold_id,crm_contact_id,subject_email,reason,start_date,end_date\n"
    (holds / "typo.csv").write_text(header + f"hold-erin,{ERIN['id']},{ERIN['email']},Fraud claim,2026-05-01,2026-03-01\n"
                                    f"hold-bad,{ERIN['id']},,Fraud claim,2026-02-30,\n")
    ingest(scenario)
    before = (landing_digest(scenario), table_counts(scenario))
    dry = run_purge(scenario, dry_run=True)  # says beforehand that the real run would be refused, and why
    assert dry.refused.startswith(f"tenant {TENANT}'s hold hold-bad was quarantined")
    assert dry.to_dict()["would_be_refused"] == dry.refused and "would be refused by its guards" in dry.render()
    with pytest.raises(GuardError, match=(
        rf"^purge refused: tenant {TENANT}'s hold hold-bad was quarantined \(start_date is not a valid date: no such "
        rf"date .*\) in {TENANT}/crm/legal_holds/typo.csv row 2 \(and 1 more\); legal holds always win")):
        run_purge(scenario, dry_run=False)
    assert _unchanged(scenario, before)
    assert [e["event"] for e in read_entries(scenario.audit_log)] == ["purge.planned", "purge.refused"]

    (holds / "typo.csv").unlink()  # refused or not, the bad rows stay in quarantine: only a corrected hold clears them
    (holds / "typo2.csv").write_text(header + f"hold-erin,{ERIN['id']},{ERIN['email']},Fraud claim,2026-05-01,\n")
    ingest(scenario)
    with pytest.raises(GuardError, match=r"hold hold-bad was quarantined .*; legal holds always win"):
        run_purge(scenario, dry_run=False)
    (holds / "typo3.csv").write_text(header + f"hold-bad,{ERIN['id']},,Fraud claim,2026-02-28,\n")
    ingest(scenario)
    assert run_purge(scenario, dry_run=True).to_dict()["would_be_refused"] is None
    assert run_purge(scenario, dry_run=False).counts
    con = duckdb.connect(str(scenario.warehouse), read_only=True)
    try:  # Erin, held now, keeps her records though she asked to be erased
        assert con.execute("select count(*) from raw.crm_contacts where id = ?", [ERIN["id"]]).fetchone()[0] == 1
    finally:
        con.close()


def test_a_batch_whose_quarantined_rows_a_purge_deleted_refuses_nothing(scenario: Settings) -> None:
    """A batch with a row that broke its contract is fine while ingest held that row back in quarantine. The guard
    counted the quarantine as it is now, so once a purge deleted the quarantined row (Erin's erasure here; a
    quarantined row's retention does the same), the batch looked failed, and every later purge touching any of its
    rows was refused, for good."""
    from purge_scenario import WENDY, query_rows

    from lethe.dsr import SubjectRef, erase_subject

    (batch,) = query_rows(scenario, "select batch_id from quarantine.rows where dataset = 'email_events'")[0]
    run_purge(scenario, dry_run=False)  # Erin's erasure takes her quarantined email event with it
    assert query_rows(scenario, "select count(*) from quarantine.rows where batch_id = ?", [batch]) == [(0,)]
    assert query_rows(scenario, "select count(*) from raw.email_events where _batch_id = ? and email = ?",
                      [batch, WENDY["email"]]) != [(0,)]

    erase_subject(scenario, TENANT, SubjectRef(contact_id=WENDY["id"]))

    assert query_rows(scenario, "select count(*) from raw.email_events where email = ?", [WENDY["email"]]) == [(0,)]


def test_a_hold_that_ended_refuses_nothing_once_the_purge_blanked_it(scenario: Settings) -> None:
    """The hold register keeps a hold once it has ended. When the held person's data goes (their erasure, their
    CRM contact's retention), the purge blanks the hold's identifiers as it blanks every copy of their addresses,
    and a hold that named them by email only then names nobody: the guard refused every later purge of the tenant
    on it (found at 200,000 subjects, where 47 ended holds blanked by the first retention purge refused all the
    erasures after it). A hold
    that has ended protects nobody; one not ended that names nobody still refuses."""
    from purge_scenario import ERIN, FILLERS, WENDY, ingest, query_rows

    from lethe.dsr import SubjectRef, erase_subject

    holds = scenario.landing / TENANT / "crm" / "legal_holds"
    header = "hold_id,crm_contact_id,subject_email,reason,start_date,end_date\n"
    (holds / "ended.csv").write_text(header + f"hold-erin-2025,,{ERIN['email']},Closed claim,2025-01-01,2025-06-01\n")
    ingest(scenario)
    run_purge(scenario, dry_run=False)  # Erin's erasure (her hold ended a year before)
    assert query_rows(scenario, "select crm_contact_id, subject_email from raw.legal_holds "
                                "where hold_id = 'hold-erin-2025'") == [(None, None)]

    erase_subject(scenario, TENANT, SubjectRef(contact_id=WENDY["id"]))

    assert query_rows(scenario, "select count(*) from raw.crm_contacts where id = ?", [WENDY["id"]]) == [(0,)]
    (holds / "nobody.csv").write_text(header + "hold-nobody,,,Open claim,2026-01-01,\n")
    ingest(scenario)
    with pytest.raises(GuardError, match=r"hold hold-nobody names nobody .*; legal holds always win"):
        erase_subject(scenario, TENANT, SubjectRef(contact_id=FILLERS[0]["id"]))
    assert query_rows(scenario, "select count(*) from raw.crm_contacts where id = ?", [FILLERS[0]["id"]]) == [(1,)]
