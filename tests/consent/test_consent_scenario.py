"""Named consent scenarios, built by `lethe build`, asserted on the consent and violation marts."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = pytest.mark.slow


def _status(scenario, channel: str) -> dict[str, str]:
    rows = scenario.query(
        "select subject_key, validity_reason from marts.fct_consent_status "
        "where purpose_name = 'Marketing' and channel = ?",
        [channel],
    )
    who = scenario.who()
    return {who[key]: reason for key, reason in rows}


def _violations(scenario, violation_type: str) -> list[dict]:
    cur = scenario.query(
        "select subject_key, record_id, withdrawal_event_id, withdrawn_at, delay_days, occurred_at, consent_reason "
        "from marts.fct_violations where violation_type = ? order by occurred_at",
        [violation_type],
    )
    names = ["subject_key", "record_id", "withdrawal_event_id", "withdrawn_at", "delay_days", "occurred_at",
             "consent_reason"]
    who = scenario.who()
    return [dict(zip(names, row, strict=True)) | {"who": who.get(row[0])} for row in cur]


def test_withdrew_by_unsubscribe_then_was_mailed(consent_scenario):
    rows = _violations(consent_scenario, "marketing_after_withdrawal")
    assert [(r["who"], r["record_id"], r["withdrawal_event_id"], r["delay_days"]) for r in rows] == [
        ("c-bob", "e-bob-2", "e-bob-1", 10)
    ]
    assert str(rows[0]["withdrawn_at"]) == "2026-03-01 12:00:00"
    assert str(rows[0]["occurred_at"]) == "2026-03-11 12:00:00"


def test_mailed_under_pre_ticked_consent_is_a_violation_but_lawful_mail_is_not(consent_scenario):
    rows = _violations(consent_scenario, "marketing_without_valid_consent")
    assert [(r["who"], r["record_id"], r["consent_reason"]) for r in rows] == [("c-carol", "e-carol-1", "pre_ticked_box")]


def test_outbound_call_to_do_not_call_subject(consent_scenario):
    rows = _violations(consent_scenario, "outbound_call_do_not_call")
    assert [(r["who"], r["record_id"]) for r in rows] == [("c-ivan", "ctr-ivan-1")]


def test_restricted_subject_called_after_restriction(consent_scenario):
    rows = _violations(consent_scenario, "processing_while_restricted")
    assert [(r["who"], r["record_id"], r["delay_days"]) for r in rows] == [("c-mallory", "ctr-mallory-1", 59)]


def test_every_validity_rule_shows_in_the_consent_status(consent_scenario):
    email = _status(consent_scenario, "email")
    assert email["c-alice"] == "valid"
    assert email["c-bob"] == "withdrawn"
    assert email["c-carol"] == "pre_ticked_box"
    assert email["c-walter"] == "implied"
    assert email["c-frank"] == "defective_evidence"
    assert email["c-grace"] == "expired"
    assert email["c-heidi"] == "renewal_due"
    assert email["c-judy"] == "valid"  # group unsubscribe, then resubscribe
    assert email["c-trent"] == "valid"  # opted out, then opted in again
    assert email["c-yves"] == "withdrawn"  # HasOptedOutOfEmail
    sms = _status(consent_scenario, "sms")
    assert sms["c-dave"] == "valid"  # verbal, recording on disk
    assert sms["c-erin"] == "recording_missing"  # verbal, recording purged
    assert _status(consent_scenario, "phone")["c-ivan"] == "withdrawn"  # DoNotCall


def test_objecting_restricted_and_forgotten_subjects_are_never_profiled(consent_scenario):
    rows = consent_scenario.query(
        "select subject_key, profiling_reason from intermediate.int_subjects_profiling_allowed where not profiling_allowed"
    )
    who = consent_scenario.who()
    assert {who[key]: reason for key, reason in rows} == {
        "c-niaj": "objects_to_profiling",
        "c-mallory": "restricted",
        "c-olivia": "erasure_requested",
    }


def test_exclusion_counts_add_up_for_the_dashboard(consent_scenario):
    rows = consent_scenario.query(
        "select exclusion_reason, subject_count from marts.audience_exclusions "
        "where purpose_name = 'Marketing' and channel = 'email'"
    )
    counts = dict(rows)
    assert counts["hard_bounced"] == 1
    assert counts["erasure_requested"] == 1
    assert counts["restricted"] == 1
    assert counts["no_valid_address"] == 1
    eligible = consent_scenario.query(
        "select count(*) from marts.audience_eligible where purpose_name = 'Marketing' and channel = 'email'"
    )[0][0]
    subjects = len(consent_scenario.who())
    assert eligible + sum(counts.values()) == subjects


def _audience_reasons(scenario, purpose: str, channel: str) -> dict[str, str]:
    rows = scenario.query(
        "select subject_key, audience_reason from intermediate.int_audience_members_assessed "
        "where purpose_name = ? and channel = ?",
        [purpose, channel],
    )
    who = scenario.who()
    return {who[key]: reason for key, reason in rows}


def test_an_address_that_unsubscribed_is_withdrawn_for_every_contact_sharing_it(consent_scenario):
    reasons = _audience_reasons(consent_scenario, "Marketing", "email")
    # the ledger gives the unsubscribe to one of the two; the address is suppressed for both
    assert (reasons["c-sybil"], reasons["c-rupert"]) == ("withdrawn", "withdrawn")
    assert reasons["c-alice"] == "eligible"
    addresses = consent_scenario.query("select address from marts.audience_eligible where channel = 'email'")
    assert ("shared@example.com",) not in addresses


def test_objecting_to_profiling_leaves_a_subject_out_of_profiling_audiences_and_mailing_them_is_a_violation(
    consent_scenario,
):
    reasons = _audience_reasons(consent_scenario, "Profiling", "email")
    assert reasons["c-niaj"] == "objected"  # a valid Profiling consent, but HasOptedOutProfiling since 2024-01-01
    assert reasons["c-alice"] == "eligible"
    rows = [r for r in _violations(consent_scenario, "profiling_after_objection") if r["record_id"] is not None]
    mailed = [(r["who"], r["record_id"], str(r["withdrawn_at"])) for r in rows if r["record_id"].startswith("e-")]
    assert mailed == [("c-niaj", "e-niaj-1", "2024-01-01 00:00:00")]


def test_a_risk_score_made_before_the_objection_is_no_violation_one_made_after_is(consent_scenario, tmp_path):
    """The risk model writes its scores after dbt, so the violations model reads the previous build's: a subject
    scored and then objecting must not show as profiled after their objection."""
    import shutil

    from lethe.build import run_build
    from lethe.risk.train import SCORES_DDL
    from lethe.settings import load_settings

    home = tmp_path / "home"
    shutil.copytree(consent_scenario.home, home)
    settings = load_settings({**consent_scenario.env, "LETHE_HOME": str(home)})
    niaj = consent_scenario.key("c-niaj")

    def scored_at(when: str) -> list[tuple]:
        con = duckdb.connect(str(home / "warehouse.duckdb"))
        try:
            con.execute(SCORES_DDL)
            con.execute("insert into marts.withdrawal_risk_scores values ('acme-energy', ?, ?, 0.5, null)", [niaj, when])
        finally:
            con.close()
        run_build(settings, select="int_profiling_violations+", unit_tests=False)
        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute(
                "select subject_key, occurred_at from marts.fct_violations where violation_type = "
                "'profiling_after_objection' and source_table = 'withdrawal_risk_scores'"
            ).fetchall()
        finally:
            con.close()

    assert scored_at("2023-12-01 00:00:00") == []  # before HasOptedOutProfiling (2024-01-01)
    assert [(k, str(t)) for k, t in scored_at("2026-05-01 00:00:00")] == [(niaj, "2026-05-01 00:00:00")]
