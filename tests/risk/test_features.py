"""Engagement features of the named subjects (risk_scenario), built by dbt on a hand-made raw layer."""

from __future__ import annotations

from datetime import datetime

import pytest

from lethe.warehouse import connect


def _features(settings, contact_id: str) -> dict[datetime, dict]:
    con = connect(settings, read_only=True)
    try:
        rel = con.execute(
            """
            select f.*
            from marts.withdrawal_risk_features f
            join intermediate.int_subjects_resolved s using (tenant_id, subject_key)
            where s.crm_contact_id = ?
            order by f.snapshot_at
            """,
            [contact_id],
        )
        names = [d[0] for d in rel.description]
        return {row[names.index("snapshot_at")]: dict(zip(names, row, strict=True)) for row in rel.fetchall()}
    finally:
        con.close()


def test_fatigued_subject_shows_a_growing_streak_falling_opens_and_complaint_calls(scenario_home):
    ben = _features(scenario_home, "c-ben")
    week = ben[datetime(2026, 4, 13)]
    assert week["unopened_streak"] == 6
    assert week["open_rate_30d"] == 0.0 and week["open_rate_trend"] < -0.5
    assert week["negative_contacts_90d"] == 2
    assert week["withdrew_within_30d"] is True


def test_withdrawn_subject_leaves_the_population(scenario_home):
    ben = _features(scenario_home, "c-ben")
    assert max(ben) == datetime(2026, 4, 20)  # unsubscribed 2026-04-20 12:00: not at risk any more after it


def test_an_open_resets_the_unopened_streak(scenario_home):
    dan = _features(scenario_home, "c-dan")
    assert dan[datetime(2026, 5, 4)]["unopened_streak"] == 3
    assert dan[datetime(2026, 5, 11)]["unopened_streak"] == 0  # opened the 2026-05-04 mail on 2026-05-06
    assert dan[datetime(2026, 6, 1)]["unopened_streak"] == 3


def test_crm_email_opt_out_labels_the_weeks_before_it(scenario_home):
    eve = _features(scenario_home, "c-eve")
    assert eve[datetime(2026, 4, 27)]["withdrew_within_30d"] is True  # HasOptedOutOfEmail on 2026-05-20
    assert eve[datetime(2026, 4, 13)]["withdrew_within_30d"] is False
    assert datetime(2026, 6, 1) not in eve


def test_labels_are_unknown_until_their_window_has_passed(scenario_home):
    ada = _features(scenario_home, "c-ada")
    assert ada[datetime(2026, 4, 27)]["withdrew_within_30d"] is False
    assert ada[datetime(2026, 5, 4)]["withdrew_within_30d"] is None
    assert ada[datetime(2026, 6, 1)]["is_scoring_snapshot"] is True


@pytest.mark.parametrize("contact_id", ["c-cora"])
def test_subject_objecting_to_profiling_is_not_in_the_model_input(scenario_home, contact_id):
    assert _features(scenario_home, contact_id) == {}
