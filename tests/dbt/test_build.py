"""`lethe build` on a hand-built raw layer of named subjects, judged at 2026-06-01 under config/tenants.yml."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import duckdb
import pytest
from rawlayer import SECRET, write_raw

from lethe.build import UNIT_TESTS_RECORD_DIR, BuildResult, parse_project, run_build
from lethe.errors import LetheError
from lethe.keys import keyed_hash
from lethe.settings import Settings

T = "acme-energy"  # recording 90 days, transcript 180, metadata 730, campaign 395, crm 1095, DSR SLA 30


def _call(contact_id: str, phone: str, ended: datetime, recording: bool = False, absolute: bool = False) -> dict:
    """A call; its Recording.Location relative to the tenant folder, or absolute (bucket/tenant/...)."""
    location = f"recordings/{contact_id}.wav"
    return {
        "tenant_id": T, "contact_id": contact_id, "channel": "VOICE", "initiation_method": "INBOUND",
        "initiation_timestamp": ended, "disconnect_timestamp": ended, "last_update_timestamp": ended,
        "customer_address": phone, "customer_address_type": "TELEPHONE_NUMBER", "agent_username": "agent.lee",
        "recording_location": (f"s3://connect-recordings/{T}/{location}" if absolute else location) if recording else None,
    }


def _contact(cid: str, phone: str, status: str, last_activity: date) -> dict:
    return {
        "tenant_id": T, "id": cid, "individual_id": f"0PK{cid}", "first_name": "Named", "last_name": cid,
        "email": f"{cid.lower()}@example.com", "phone": phone, "customer_status": status,
        "last_activity_date": last_activity, "last_modified_date": datetime(2026, 1, 1),
    }


SCENARIO = {
    "crm_contacts": [
        _contact("RITA", "+441000000001", "former", date(2026, 1, 1)),    # recording 91 days old
        _contact("HOLLY", "+441000000002", "former", date(2019, 1, 1)),   # under legal hold
        _contact("ERIN", "+441000000003", "active", date(2026, 5, 1)),    # asked to be erased
        _contact("ALAN", "+441000000004", "active", date(2015, 1, 1)),    # active customer, old activity
    ],
    "crm_individuals": [
        {"tenant_id": T, "id": f"0PK{c}", "should_forget": False, "last_modified_date": datetime(2026, 1, 1)}
        for c in ("RITA", "HOLLY", "ERIN", "ALAN")
    ],
    "contact_records": [
        _call("c-rita-91", "+441000000001", datetime(2026, 3, 2), recording=True, absolute=True),
        _call("c-rita-89", "+441000000001", datetime(2026, 3, 4), recording=True),
        _call("c-holly", "+441000000002", datetime(2025, 1, 1), recording=True),
        _call("c-erin", "+441000000003", datetime(2026, 5, 20), recording=True),
        _call("c-stranger", "+449999999999", datetime(2026, 2, 1), recording=True),
        # another tenant's Connect instance gave one of its calls the same ContactId
        _call("c-rita-91", "+442000000001", datetime(2026, 5, 1)) | {"tenant_id": "borealis-telecom"},
    ],
    "recordings": [
        {"tenant_id": T, "recording_path": f"recordings/{c}.wav", "size_bytes": 44, "content_sha256": "0" * 64}
        for c in ("c-rita-91", "c-rita-89", "c-holly", "c-erin", "c-stranger")
    ],
    "legal_holds": [
        {"tenant_id": T, "hold_id": "H1", "crm_contact_id": "HOLLY", "reason": "litigation", "start_date": date(2026, 1, 1)},
    ],
    "dsr_requests": [
        {"tenant_id": T, "request_id": "R-ERIN", "received_at": datetime(2026, 5, 25), "type": "erasure",
         "subject_email": "erin@example.com", "verified_at": datetime(2026, 5, 26)},
        {"tenant_id": T, "request_id": "R-OLD", "received_at": datetime(2026, 4, 1), "type": "access",
         "crm_contact_id": "RITA"},
    ],
    "agents": [
        {"tenant_id": T, "agent_username": "agent.lee", "training_completed_at": datetime(2025, 1, 1), "exam_score": 95},
    ],
    "breaches": [
        {"tenant_id": T, "breach_id": "B1", "detected_at": datetime(2026, 5, 1), "authority_notified_at": None},
    ],
}


@pytest.fixture(scope="module", autouse=True)
def own_unit_tests_record() -> Iterator[None]:
    """This module's homes keep their own record of the unit tests passing (the default), not the run's shared one
    (tests/conftest.py): their first build runs every unit test, so they pass here whatever ran before."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(UNIT_TESTS_RECORD_DIR, raising=False)
        yield


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, BuildResult]:
    from lethe.settings import load_settings

    home = tmp_path_factory.mktemp("build-home")
    settings = load_settings({"LETHE_HOME": str(home), "LETHE_SECRET_KEY": SECRET, "LETHE_AS_OF": "2026-06-01T00:00:00"})
    write_raw(settings.warehouse, SCENARIO)
    return settings, run_build(settings)


def _query(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _due(settings: Settings) -> dict[tuple[str, str], tuple[str, str]]:
    rows = _query(settings, "select source_table, record_id, reason, action from marts.retention_due")
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def test_build_reports_every_model_and_test_passed(built: tuple[Settings, BuildResult]) -> None:
    _, result = built
    assert result.models_failed == 0 and result.tests_failed == 0
    assert result.models_passed >= 25 and result.tests_passed >= 40
    assert "models built" in result.render()


def test_two_tenants_may_share_a_contact_id_and_each_keeps_its_own_record(built) -> None:
    rows = _query(built[0], "select tenant_id, customer_phone from staging.stg_connect__contact_records "
                            "where contact_id = 'c-rita-91' order by tenant_id")
    assert rows == [("acme-energy", "+441000000001"), ("borealis-telecom", "+442000000001")]
    assert ("borealis-telecom", "contact_records", "c-rita-91") not in {
        tuple(r) for r in _query(built[0], "select tenant_id, source_table, record_id from marts.retention_due")
    }


def test_recording_91_days_old_under_90_day_policy_is_due_and_89_days_is_not(built) -> None:
    settings, _ = built
    due = _due(settings)
    assert due[("recordings", "c-rita-91")] == ("retention_expired", "delete")
    assert ("recordings", "c-rita-89") not in due


def test_subject_under_open_legal_hold_has_nothing_due(built) -> None:
    settings, _ = built
    assert not [key for key in _due(settings) if key[1] in ("c-holly", "HOLLY", "0PKHOLLY")]
    held = _query(settings, "select count(*) from marts.fct_retention_status where is_held and source_table = 'recordings' and record_id = 'c-holly'")
    assert held == [(1,)]


def test_erasure_request_makes_every_record_due_even_for_an_active_customer(built) -> None:
    settings, _ = built
    due = _due(settings)
    for key in [("recordings", "c-erin"), ("contact_records", "c-erin"), ("crm_contacts", "ERIN"), ("crm_individuals", "0PKERIN")]:
        assert due[key] == ("erasure_request", "delete"), key


def test_active_customer_crm_record_is_never_due(built) -> None:
    settings, _ = built
    assert ("crm_contacts", "ALAN") not in _due(settings)


def test_unresolved_caller_is_kept_as_a_subject_keyed_by_phone(built) -> None:
    settings, _ = built
    expected = keyed_hash(SECRET.encode(), T, "phone", "+449999999999")
    rows = _query(settings, "select is_resolved from marts.dim_subjects where subject_key = ?".replace("?", f"'{expected}'"))
    assert rows == [(False,)]
    rita = keyed_hash(SECRET.encode(), T, "contact", "RITA")
    assert _query(settings, f"select count(*) from marts.dim_subjects where subject_key = '{rita}'") == [(1,)]


def test_dsr_and_breach_clocks(built) -> None:
    settings, _ = built
    status = dict(_query(settings, "select request_id, status from marts.fct_dsr_requests"))
    assert status == {"R-ERIN": "open", "R-OLD": "overdue"}  # erasure is done once the purge removed the records
    assert _query(settings, "select is_open, is_past_clock from marts.fct_breaches") == [(True, True)]


def test_secret_key_is_never_stored_in_the_warehouse_or_dbt_artifacts(built) -> None:
    settings, _ = built
    for path in settings.home.rglob("*"):
        if path.is_file() and path.name != "secret.key":
            assert SECRET.encode() not in path.read_bytes(), path


def test_failing_model_raises_one_line_naming_it(dbt_settings: Settings) -> None:
    write_raw(dbt_settings.warehouse, {})
    con = duckdb.connect(str(dbt_settings.warehouse))
    # a raw table lacking a column the model reads (a table would gain it back: lethe.ingest.schema.add_new_columns)
    con.execute("alter table raw.breaches rename to breaches_kept")
    con.execute("create view raw.breaches as select * exclude (detected_at) from raw.breaches_kept")
    con.close()
    with pytest.raises(LetheError) as caught:
        run_build(dbt_settings, select="stg_centre__breaches")
    message = str(caught.value)
    assert "stg_centre__breaches" in message and "\n" not in message


def test_parse_project_writes_the_manifest(dbt_settings: Settings) -> None:
    manifest = parse_project(dbt_settings)
    assert manifest.name == "manifest.json" and manifest.exists()
    assert "model.lethe.retention_due" in manifest.read_text()
    # dbt wrote into a private folder and the manifest was moved into place; nothing of it is left over
    assert not list(manifest.parent.parent.glob(".target-parse-*")), "parse left its scratch folder behind"


def _run_results_kinds(result: BuildResult) -> dict[str, int]:
    import json

    nodes = json.loads((result.target_dir / "run_results.json").read_text())["results"]
    kinds: dict[str, int] = {}
    for node in nodes:
        kind = node["unique_id"].split(".")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def test_the_next_build_of_unchanged_code_leaves_out_the_unit_tests_and_says_so(built) -> None:
    settings, first = built
    assert not first.unit_tests_skipped  # the home's first build ran them
    again = run_build(settings)
    kinds = _run_results_kinds(again)
    assert "unit_test" not in kinds and kinds["test"] >= 40  # data tests still judge the data
    assert again.tests_passed < first.tests_passed
    assert "unit tests not run: the project and dbt are unchanged since they all passed at" in again.render()


def test_changed_project_code_and_a_full_refresh_run_the_unit_tests_again(built) -> None:
    import json

    settings, _ = built
    record = settings.home / "dbt" / "unit-tests-passed-duckdb.json"
    assert record.exists()
    record.write_text(json.dumps({"fingerprint": "of-an-older-project", "passed_at": "2026-01-01T00:00:00Z"}))
    changed = run_build(settings)
    assert _run_results_kinds(changed).get("unit_test", 0) >= 10 and not changed.unit_tests_skipped
    assert json.loads(record.read_text())["fingerprint"] != "of-an-older-project"  # recorded anew once they passed
    assert _run_results_kinds(run_build(settings, full_refresh=True)).get("unit_test", 0) >= 10


def test_a_home_sharing_the_record_of_another_leaves_out_the_unit_tests_it_passed(
    dbt_settings: Settings, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from lethe.build import DBT_PROJECT_DIR, project_fingerprint
    from lethe.settings import load_settings

    shared = tmp_path / "shared"
    monkeypatch.setenv(UNIT_TESTS_RECORD_DIR, str(shared))
    write_raw(dbt_settings.warehouse, SCENARIO)
    shared.mkdir()
    record = shared / "unit-tests-passed-duckdb.json"
    record.write_text(json.dumps({"fingerprint": "of-an-older-project", "passed_at": "2026-01-01T00:00:00Z"}))
    first = run_build(dbt_settings)  # what another home passed with other code says nothing about this code
    assert _run_results_kinds(first).get("unit_test", 0) >= 10 and not first.unit_tests_skipped
    assert json.loads(record.read_text())["fingerprint"] == project_fingerprint(DBT_PROJECT_DIR, "duckdb")
    assert not (dbt_settings.home / "dbt" / "unit-tests-passed-duckdb.json").exists()

    (tmp_path / "other-home").mkdir()
    other = load_settings({"LETHE_HOME": str(tmp_path / "other-home"), "LETHE_SECRET_KEY": SECRET,
                           "LETHE_AS_OF": "2026-06-01T00:00:00"})
    write_raw(other.warehouse, SCENARIO)
    second = run_build(other)  # a fresh home: the record it shares says they passed with this very code
    assert "unit_test" not in _run_results_kinds(second)
    assert "unit tests not run: the project and dbt are unchanged since they all passed at" in second.render()


def test_the_project_fingerprint_follows_the_code_not_dbt_output(tmp_path) -> None:
    import shutil

    from lethe.build import project_fingerprint
    from lethe.settings import DBT_PROJECT_DIR

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    before = project_fingerprint(project, "duckdb")
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text("{}")
    assert project_fingerprint(project, "duckdb") == before
    assert project_fingerprint(project, "spark") != before
    macro = project / "macros" / "as_of.sql"
    macro.write_text(macro.read_text() + "\n-- an edit\n")
    assert project_fingerprint(project, "duckdb") != before


def test_an_email_event_whose_address_ingest_did_not_normalise_fails_the_build(dbt_settings: Settings) -> None:
    """Staging passes SendGrid addresses through as ingest normalised them; a raw row that is not lower case and
    trimmed (written by something other than `lethe ingest`) fails the build with the test's name."""
    event = {"tenant_id": T, "sg_event_id": "ev-1", "event_at": datetime(2026, 5, 1), "event": "delivered"}
    write_raw(dbt_settings.warehouse, {"email_events": [{**event, "email": "rita@example.com"}]})
    run_build(dbt_settings, select="stg_sendgrid__email_events", unit_tests=False)
    write_raw(dbt_settings.warehouse, {"email_events": [{**event, "email": " Rita@Example.com"}]})
    with pytest.raises(LetheError, match="lethe_normalised_email_stg_sendgrid__email_events_email"):
        run_build(dbt_settings, select="stg_sendgrid__email_events", unit_tests=False)
