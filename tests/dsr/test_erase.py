"""Erasure of one subject through the purge engine, and requests processed from the DSR CSVs and Individual flags."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from purge_scenario import ERIN, HANK, RITA, TENANT, grep_home, landing_digest, table_counts

from lethe.audit import read_entries
from lethe.dsr import SubjectRef, erase_subject, process_requests
from lethe.errors import GuardError
from lethe.keys import keyed_hash
from lethe.settings import Settings


def _count(settings: Settings, sql: str, params: list) -> int:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, params).fetchone()[0]
    finally:
        con.close()


def test_dsar_erase_by_human_phone_removes_rita_everywhere(scenario: Settings) -> None:
    result = erase_subject(scenario, TENANT, SubjectRef(phone="+44 (0)7700 900101"))
    assert result.kind == "erasure" and not result.dry_run
    assert _count(scenario, "select count(*) from raw.crm_contacts where id = ?", [RITA["id"]]) == 0
    assert _count(scenario, "select count(*) from raw.contact_records where contact_id like 'ctr-rita-%'", []) == 0
    assert not list((scenario.landing / TENANT / "recordings").rglob("ctr-rita-*"))
    assert grep_home(scenario.home.parent, [RITA["email"], RITA["phone"], RITA["last"]]) == []
    assert _count(scenario, "select count(*) from lethe_meta.tombstones where identity_hash = ?",
                  [keyed_hash(scenario.secret_key, TENANT, "contact", RITA["id"])]) == 1
    planned = [e for e in read_entries(scenario.audit_log) if e["event"] == "purge.planned"]
    assert planned[-1]["kind"] == "erasure"
    assert planned[-1]["subject_keys"] == [keyed_hash(scenario.secret_key, TENANT, "contact", RITA["id"])]


def test_dsar_erase_of_a_held_subject_is_refused_and_deletes_nothing(scenario: Settings) -> None:
    landing, counts = landing_digest(scenario), table_counts(scenario)
    with pytest.raises(GuardError, match="legal hold"):
        erase_subject(scenario, TENANT, SubjectRef(email=HANK["email"]))
    assert landing_digest(scenario) == landing and table_counts(scenario) == counts


def test_guard_trip_on_share_refuses_the_erasure_and_deletes_nothing(scenario: Settings) -> None:
    scenario.tenants_file.write_text(scenario.tenants_file.read_text().replace("purge_max_share: 0.25",
                                                                                "purge_max_share: 0.01"))
    landing, counts = landing_digest(scenario), table_counts(scenario)
    with pytest.raises(GuardError, match=r"purge refused: .* of raw\.\w+ for tenant acme-energy, over its purge_max_share"):
        erase_subject(scenario, TENANT, SubjectRef(contact_id=ERIN["id"]))
    assert landing_digest(scenario) == landing
    assert {k: v for k, v in table_counts(scenario).items()} == counts
    assert [e["event"] for e in read_entries(scenario.audit_log)] == ["purge.planned", "purge.refused"]


def test_process_requests_erases_verified_requests_and_respects_holds(scenario: Settings) -> None:
    result = process_requests(scenario)
    assert result.outcomes.get("erased") == 1 and result.outcomes.get("erasure held") == 1
    assert _count(scenario, "select count(*) from raw.crm_contacts where id in (?, ?)", [ERIN["id"], HANK["id"]]) == 1
    outcomes = dict(duckdb.connect(str(scenario.warehouse), read_only=True).execute(
        "select request_id, outcome from lethe_meta.dsr_processed").fetchall())
    assert outcomes == {"dsr-erin": "erased", "dsr-hank": "held"}
    # Erin's request is final; Hank's is looked at again, and while the hold lasts it waits without a purge run
    again = process_requests(scenario)
    assert again.outcomes == {"erasure held": 1} and again.erasure_run is None
    # the hold ends the day before the as-of: the next run erases him, and his request is done
    con = duckdb.connect(str(scenario.warehouse))
    con.execute("update raw.legal_holds set end_date = ?::date - 1 where crm_contact_id = ? or subject_email = ?",
                [scenario.as_of.date(), HANK["id"], HANK["email"]])
    con.close()
    ended = process_requests(scenario)
    assert ended.outcomes == {"erased": 1} and ended.erasure_run is not None
    assert _count(scenario, "select count(*) from raw.crm_contacts where id = ?", [HANK["id"]]) == 0
    assert _count(scenario, "select count(*) from lethe_meta.dsr_processed where request_id = 'dsr-hank' "
                            "and outcome = 'erased' and run_id = ?", [ended.erasure_run]) == 1
    assert _count(scenario, "select count(*) from lethe_meta.dsr_fulfilments where request_id = 'dsr-hank'", []) == 1


def test_individual_flags_trigger_access_export_then_erasure_removes_the_export(scenario: Settings) -> None:
    con = duckdb.connect(str(scenario.warehouse))
    con.execute("update raw.crm_individuals set send_individual_data = true where id = ?", [RITA["ind"]])
    con.close()
    result = process_requests(scenario)
    assert result.outcomes.get("exported") == 1
    (path,) = result.exports
    doc = json.loads(Path(path).read_text())
    assert [c["Id"] for c in doc["crm_contacts"]] == [RITA["id"]]
    assert Path(path).stat().st_mode & 0o077 == 0, "an access export is readable by other users of the machine"
    # a second export of hers killed mid-write left its hidden temporary file (fsutil.write_atomic's name)
    leftover = Path(path).with_name(f".{Path(path).name}.4242.0badc0de.tmp")
    leftover.write_bytes(Path(path).read_bytes()[:200])
    con = duckdb.connect(str(scenario.warehouse))
    con.execute("update raw.crm_individuals set should_forget = true where id = ?", [RITA["ind"]])
    con.close()
    result = process_requests(scenario)
    assert result.outcomes.get("erased") == 1
    assert not list(scenario.exports_dir.rglob("*.json"))
    assert not leftover.exists(), "the erasure left the hidden part of an export of hers"
    assert grep_home(scenario.home.parent, [RITA["email"], RITA["last"]]) == []


def test_access_requests_processed_together_each_export_holds_only_its_subject(scenario: Settings) -> None:
    """Several access requests in one run are read from the warehouse together; every export must hold its own
    subject's records and nobody else's (a mix-up here would be a personal data breach)."""
    from purge_scenario import FILLERS, WENDY

    people = [RITA, WENDY, FILLERS[0], FILLERS[1]]
    con = duckdb.connect(str(scenario.warehouse))
    con.execute("delete from raw.dsr_requests")  # Erin's and Hank's erasures are tested above
    con.execute("update raw.crm_individuals set send_individual_data = true where list_contains(?, id)",
                [[p["ind"] for p in people]])
    con.close()

    result = process_requests(scenario)

    assert result.outcomes == {"exported": len(people)}
    docs = [json.loads(Path(p).read_text()) for p in result.exports]
    by_contact = {d["crm_contacts"][0]["Id"]: d for d in docs}
    assert sorted(by_contact) == sorted(p["id"] for p in people)
    for person in people:
        doc = by_contact[person["id"]]
        mailed = set() if person is RITA else {person["email"]}  # Rita was never mailed
        assert {e["email"] for e in doc["email_events"]} == mailed
        assert all(c["PartyId"] == person["ind"] for c in doc["consents"]) and doc["consents"]
        assert {i["Id"] for i in doc["individuals"]} == {person["ind"]}
        assert doc["interactions"] and all(i["CustomerEndpoint.Address"] in (person["phone"], person["email"])
                                        for i in doc["interactions"])
        assert {t["ContactId"] for t in doc["transcripts"]} <= {i["ContactId"] for i in doc["interactions"]}
        others = [p for p in people if p is not person]
        text = json.dumps(doc)
        assert not [p["email"] for p in others if p["email"] in text]
    rita = by_contact[RITA["id"]]
    assert len(rita["recordings"]) == 2  # both of her calls were recorded
    assert sorted(r["record_id"] for r in rita["retention"]["interaction.recording"]["records"]) == ["ctr-rita-1", "ctr-rita-2"]


def test_an_access_request_of_a_contact_with_no_email_or_phone_is_exported(scenario: Settings) -> None:
    """A CRM contact with neither an email nor a phone (found by its Individual's flag) still has a right of
    access: the run writes its export (the CRM record, the consents) instead of failing on the missing addresses,
    and the other requests of the run are processed too."""
    from purge_scenario import FILLERS

    quiet, other = FILLERS[2], FILLERS[3]
    con = duckdb.connect(str(scenario.warehouse))
    con.execute("delete from raw.dsr_requests")  # Erin's and Hank's erasures are tested above
    con.execute("update raw.crm_contacts set email = null, phone = null, mobile_phone = null where id = ?", [quiet["id"]])
    con.execute("update raw.crm_individuals set send_individual_data = true where list_contains(?, id)",
                [[quiet["ind"], other["ind"]]])
    con.close()

    result = process_requests(scenario)

    assert result.outcomes == {"exported": 2}
    docs = {d["crm_contacts"][0]["Id"]: d for d in (json.loads(Path(p).read_text()) for p in result.exports)}
    assert sorted(docs) == sorted([quiet["id"], other["id"]])
    assert docs[quiet["id"]]["crm_contacts"][0]["Email"] is None and docs[quiet["id"]]["consents"]
    assert docs[quiet["id"]]["email_events"] == [] and docs[quiet["id"]]["interactions"] == []


def test_a_legal_hold_delays_erasure_but_not_access(scenario: Settings) -> None:
    """Hank is under a legal hold: his erasure waits (outcome 'held'), but his request for a copy of his data is
    answered in the same run; a hold restricts deletion, never the right of access (Art. 15)."""
    con = duckdb.connect(str(scenario.warehouse))
    con.execute("update raw.crm_individuals set send_individual_data = true where id = ?", [HANK["ind"]])
    con.close()

    result = process_requests(scenario)

    assert result.outcomes.get("exported") == 1 and result.outcomes.get("erasure held") == 1, result.outcomes
    (path,) = result.exports
    assert [c["Id"] for c in json.loads(Path(path).read_text())["crm_contacts"]] == [HANK["id"]]
    outcomes = dict(duckdb.connect(str(scenario.warehouse), read_only=True).execute(
        "select request_id, outcome from lethe_meta.dsr_processed").fetchall())
    assert outcomes[f"individual:{HANK['ind']}:access"] == "exported" and outcomes["dsr-hank"] == "held"


def test_an_erasure_killed_half_way_is_finished_by_the_same_command_run_again(scenario: Settings) -> None:
    """`lethe dsar erase` killed after its landing phase had deleted Rita's contact; run again it answered
    "matches nobody" and left the run unfinished (her data still in the snapshot and the file's free blocks).
    It now finishes the interrupted run first, then finds nothing left to erase."""
    import subprocess
    import sys
    import textwrap

    from lethe.errors import IdentityError

    code = textwrap.dedent(f"""
        import os, signal
        import lethe.purge.engine as engine
        from lethe.dsr import SubjectRef, erase_subject
        from lethe.settings import load_settings

        def hook(name):
            if name == "after:landing":
                os.kill(os.getpid(), signal.SIGKILL)

        engine.HOOK = hook
        settings = load_settings({{"LETHE_HOME": {str(scenario.home)!r}, "LETHE_LANDING": {str(scenario.landing)!r},
                                  "LETHE_TENANTS": {str(scenario.tenants_file)!r},
                                  "LETHE_AS_OF": {scenario.as_of.isoformat()!r},
                                  "LETHE_SECRET_KEY": {scenario.secret_key.decode()!r}}})
        erase_subject(settings, {TENANT!r}, SubjectRef(phone="+44 (0)7700 900101"))
    """)
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]

    with pytest.raises(IdentityError, match="matches nobody"):
        erase_subject(scenario, TENANT, SubjectRef(phone="+44 (0)7700 900101"))

    events = [e["event"] for e in read_entries(scenario.audit_log)]
    assert events[-2:] == ["purge.resumed", "purge.completed"], events
    assert _count(scenario, "select count(*) from lethe_meta.purge_runs where status <> 'done'", []) == 0
    assert grep_home(scenario.home.parent, [RITA["email"], RITA["phone"], RITA["last"]]) == []


def test_a_torn_last_audit_line_refuses_an_erasure_in_one_line_before_anything_changes(scenario: Settings) -> None:
    """A write cut short (disk full, power loss) left a partial last line: every later purge or erasure failed
    with a JSONDecodeError traceback after planning, leaving a run behind. It is refused up front, naming the
    file and the line, with nothing planned or deleted."""
    from lethe import audit

    audit.append(scenario, "purge.completed", run_id="earlier")
    with scenario.audit_log.open("a") as fh:
        fh.write('{"seq":2,"at":"2026-12-03T20:1')
    runs = ("select count(*) from information_schema.tables where table_schema = 'lethe_meta' "
            "and table_name = 'purge_runs'")  # no run planned (this home has had none)
    before = (landing_digest(scenario), table_counts(scenario), _count(scenario, runs, []))
    with pytest.raises(audit.AuditError, match=r"audit.*: its last line \(2\) is not a complete entry"):
        erase_subject(scenario, TENANT, SubjectRef(phone="+44 (0)7700 900101"))
    assert (landing_digest(scenario), table_counts(scenario), _count(scenario, runs, [])) == before
