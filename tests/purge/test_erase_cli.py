"""`lethe dsar erase` run as a command, on a home built by dbt: afterwards no file under LETHE_HOME or the
landing zone holds the subject's email or phone, in the form the operator typed it either. dbt records the
command line of the process that runs it (its invocation_command, in dbt.log and run_results.json), and the
purge's rebuild runs dbt inside `lethe dsar erase --phone ...`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import generated_home
import pytest
from generated_home import NO_HOLDS, env_for
from purge_scenario import grep_home


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_home.build(tmp_path_factory.mktemp("erase-cli"))


def test_erasing_by_phone_from_the_command_line_leaves_the_number_nowhere_on_disk(built: Path, tmp_path: Path) -> None:
    settings = generated_home.copy(built, tmp_path / "h")
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:  # a CRM contact with a phone and an email, and calls from that phone
        email, phone = con.execute(
            "select lower(k.email), k.phone from raw.crm_contacts k where k.tenant_id = ? and k.email is not null "
            "and k.phone like '+44%' and exists (select 1 from raw.contact_records c where c.tenant_id = k.tenant_id "
            "and c.customer_address = k.phone) order by k.id limit 1", [NO_HOLDS]).fetchone()
    finally:
        con.close()
    typed = f"{phone[:3]} {phone[3:7]} {phone[7:]}"  # +44 7700 900123: a human format
    assert grep_home(tmp_path / "h", [email, phone])

    lethe = Path(sys.executable).with_name("lethe")
    done = subprocess.run([str(lethe), "dsar", "erase", "--tenant", NO_HOLDS, "--phone", typed],
                          env={**os.environ, **env_for(settings)}, capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stderr
    assert "derived tables: rebuilt" in done.stdout  # dbt ran inside the command
    # each count in its unit: it summed records, files and identities into one "records" figure
    executed = re.search(r"^executed: (\d+) records deleted or anonymised, (\d+) files deleted, (\d+) identities "
                         r"tombstoned$", done.stdout, re.MULTILINE)
    assert executed and int(executed.group(1)) > 0 and int(executed.group(3)) >= 2, done.stdout  # phone, contact
    assert (settings.home / "dbt" / "logs" / "dbt.log").exists()
    assert grep_home(tmp_path / "h", [email, phone, typed, typed.replace(" ", "")]) == []

    # asked again, Lethe says the person was erased, and by which run, rather than only that nobody matches
    run_id = re.search(r"erasure-[0-9T]+-[0-9a-f]+", done.stdout).group(0)
    again = subprocess.run([str(lethe), "dsar", "erase", "--tenant", NO_HOLDS, "--phone", typed],
                           env={**os.environ, **env_for(settings)}, capture_output=True, text=True, timeout=600)
    assert again.returncode == 1
    assert re.fullmatch(rf"lethe: phone '{re.escape(typed)}' matches nobody in tenant '{NO_HOLDS}': erased at "
                        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d UTC by run {run_id} \(what arrives of them again is dropped "
                        r"at ingest\)", again.stderr.strip()), again.stderr


def test_after_lethe_purge_the_status_and_the_dashboards_history_show_the_run_completed(built: Path, tmp_path: Path) -> None:
    """`lethe status` and the dashboard's purge history read the published snapshot. `lethe purge` re-published
    it before auditing the run's completion, so both showed the run just finished as only planned, and
    "Purged in the last run" as 0, until the next publish."""
    settings = generated_home.copy(built, tmp_path / "h")
    policy = settings.tenants_file  # the generated history is due almost whole in places: let the share guard pass
    policy.write_text(re.sub(r"purge_max_share: [0-9.]+", "purge_max_share: 1.0", policy.read_text()))
    env = {**os.environ, **env_for(settings)}
    lethe = str(Path(sys.executable).with_name("lethe"))

    done = subprocess.run([lethe, "purge", "--json"], env=env, capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    planned = sum(a["record_count"] for a in result["actions"])
    assert planned > 0
    shown = subprocess.run([lethe, "status", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["purged_last_run"] == planned
    con = duckdb.connect(str(settings.snapshot), read_only=True)
    try:
        history = con.execute("select status, finished_at is not null, records from audit.purges where run_id = ?",
                              [result["run_id"]]).fetchall()
    finally:
        con.close()
    assert history == [("completed", True, planned)]


def test_a_purge_the_guards_refuse_is_foretold_by_the_dry_run_and_lethe_run_has_said_what_it_did_before(
    built: Path, tmp_path: Path
) -> None:
    """On the generated home, with a purge_max_share of 50%, the share guard refuses the retention purge (its two
    years of history are mostly due in places). `lethe purge --dry-run` said nothing of it, and `lethe run` printed
    nothing at all: not even the erasures its data-subject request step had carried out before the purge step was
    refused."""
    settings = generated_home.copy(built, tmp_path / "h")
    policy = settings.tenants_file.read_text()
    assert "purge_max_share: 0.95" in policy
    settings.tenants_file.write_text(policy.replace("purge_max_share: 0.95", "purge_max_share: 0.5"))
    env = {**os.environ, **env_for(settings)}
    lethe = str(Path(sys.executable).with_name("lethe"))

    dry = subprocess.run([lethe, "purge", "--dry-run", "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert dry.returncode == 0, dry.stderr
    foretold = json.loads(dry.stdout)["would_be_refused"]
    assert re.fullmatch(r"run retention-\S+ would remove \d+ of \d+ rows \(\d+%\) of raw\.\w+ for tenant [\w-]+, over its "
                        r"purge_max_share of 50% \(.*tenants\.yml\); review the plan with --dry-run", foretold), foretold

    run = subprocess.run([lethe, "run"], env=env, capture_output=True, text=True, timeout=900)

    assert run.returncode == 1
    assert [line.split(" (")[0] for line in run.stdout.splitlines() if line.startswith("== ")] == [
        "== ingest", "== build", "== data-subject requests"]
    assert "nothing new to ingest" in run.stdout and "dbt build:" in run.stdout
    # one line on stderr: the risk model's verdict is in the build's report on stdout, not repeated as a warning
    [refused] = run.stderr.strip().splitlines()
    assert refused.startswith("lethe: purge refused: run retention-") and "over its purge_max_share of 50%" in refused


def test_an_erasure_judged_at_an_older_day_rebuilds_the_marts_at_the_last_builds_as_of(built: Path, tmp_path: Path) -> None:
    """An Airflow enforce run cleared days after a later transform (or a purge or erasure given an old --as-of)
    rebuilt every mart downstream of what it deleted at its own, older as-of, and published them: an unsubscribe
    since then unseen, the person back in the marketing audience. The rebuild now judges at the last build's."""
    from datetime import UTC, datetime

    from lethe.build import last_build_as_of
    from lethe.dsr import SubjectRef, erase_subject

    settings = generated_home.copy(built, tmp_path / "h")
    tenant = NO_HOLDS  # no legal holds: nobody's erasure is refused
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        (contact,) = con.execute("select min(id) from raw.crm_contacts where tenant_id = ?", [tenant]).fetchone()
    finally:
        con.close()
    result = erase_subject(settings.with_as_of("2026-10-01T00:00:00Z"), tenant=tenant, ref=SubjectRef(contact_id=contact))
    assert result.derived == "rebuilt"
    assert last_build_as_of(settings) == datetime(2026, 11, 1, tzinfo=UTC)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        stamps = con.execute("select distinct as_of from marts.fct_consent_status union "
                             "select distinct as_of from marts.audience_eligible").fetchall()
    finally:
        con.close()
    assert stamps == [(datetime(2026, 11, 1),)]


def _clear_copies(settings, ids: list[str]) -> list[str]:
    """'schema.table.column' of every text column of the warehouse holding one of these ids, alone or in a longer
    text (a file path named by a ContactId)."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        columns = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() where database_name = current_database() "
            "and data_type = 'VARCHAR' and not internal order by all").fetchall()
        return [f"{s}.{t}.{c}" for s, t, c in columns if con.execute(
            f'select count(*) from "{s}"."{t}" '  # noqa: S608
            f'where len(list_filter($ids::varchar[], i -> contains("{c}", i))) > 0',
            {"ids": ids}).fetchone()[0]]
    finally:
        con.close()


def test_an_erased_persons_source_ids_are_forgotten_with_the_run_and_leave_the_file_at_the_next_purge(
    built: Path, tmp_path: Path
) -> None:
    """The purge journal kept every planned record's source id (Salesforce Contact Id, Connect ContactId) and the
    paths of the files it deleted, for every run, forever, and the ingest manifest (copied into the snapshot) the
    paths of the deleted recordings, which Amazon Connect names by ContactId: after an erasure only tombstones,
    counts and keyed hashes may remain. The run needs them while it runs; once it is verified they are forgotten
    or hidden, and the next purge's compaction leaves their bytes behind with the old file."""
    from lethe.dsr import SubjectRef, erase_subject

    settings = generated_home.copy(built, tmp_path / "h")
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:  # a CRM contact whose calls were recorded: their Contact Id and their calls' ContactIds, which name the
        # recordings' files (in the manifest too); and another contact
        first, second = [r[0] for r in con.execute(
            "select k.id from raw.crm_contacts k where k.tenant_id = ? "
            # whose requests keep naming them by design (the evidence that the request was made)
            "and not exists (select 1 from raw.dsr_requests d where d.crm_contact_id = k.id) "
            "order by not exists (select 1 from raw.contact_records c where c.tenant_id = k.tenant_id "
            "and c.customer_address = k.phone and c.recording_location is not null), k.id limit 2",
            [NO_HOLDS]).fetchall()]
        calls = [r[0] for r in con.execute(
            "select c.contact_id from raw.contact_records c join raw.crm_contacts k on k.tenant_id = c.tenant_id "
            "and k.phone = c.customer_address where k.id = ?", [first]).fetchall()]
    finally:
        con.close()
    ids = [first, *calls]
    assert calls and "lethe_meta.manifest.path" in _clear_copies(settings, ids)

    run = erase_subject(settings, tenant=NO_HOLDS, ref=SubjectRef(contact_id=first))

    assert run.derived == "rebuilt" and sum(n for *_, n in run.counts) > 0
    assert _clear_copies(settings, ids) == []
    published = settings.snapshot.read_bytes()  # re-published by the run: the dashboard's copy of the manifest
    assert [i for i in ids if i.encode() in published] == []
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:  # what the run did is still told, without them
        assert con.execute("select status from lethe_meta.purge_runs where run_id = ?", [run.run_id]).fetchall() == [
            ("done",)]
        assert con.execute("select count(*) from lethe_meta.purge_identities where run_id = ?",
                           [run.run_id]).fetchone()[0] > 0
        assert con.execute("select count(*) from lethe_meta.tombstones where run_id = ? and kind = 'contact'",
                           [run.run_id]).fetchone()[0] > 0
    finally:
        con.close()

    erase_subject(settings, tenant=NO_HOLDS, ref=SubjectRef(contact_id=second))

    assert grep_home(tmp_path / "h", ids, case_sensitive=True) == []  # the home, the landing zone
