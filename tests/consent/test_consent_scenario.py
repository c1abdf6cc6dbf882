"""Named consent scenarios, built by `lethe build`, asserted on the consent and violation marts."""

from __future__ import annotations

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
