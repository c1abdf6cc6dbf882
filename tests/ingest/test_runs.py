"""Across runs: idempotency, re-delivery, changed files, tombstones, and the `lethe ingest` command."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from ingest_helpers import TENANT, query

from lethe import tombstones
from lethe.contracts import load_all_contracts
from lethe.ingest import run_ingest
from lethe.keys import keyed_hash
from lethe.warehouse import connect

LETHE = Path(sys.executable).with_name("lethe")


def _fingerprint(settings) -> dict[str, tuple]:
    out = {}
    for name in load_all_contracts():
        out[name] = query(settings, f"select count(*), sum(hash(cast(to_json(t) as varchar))) from raw.{name} t")[0]
    return out


def test_ingesting_the_same_landing_zone_twice_changes_nothing(settings, landing):
    first = run_ingest(settings, landing)
    before = _fingerprint(settings)
    manifest = query(settings, "select count(*) from lethe_meta.manifest")
    second = run_ingest(settings, landing)
    assert first.loaded > 0
    assert second.sources == () and second.render() == "nothing new to ingest"
    assert _fingerprint(settings) == before
    assert query(settings, "select count(*) from lethe_meta.manifest") == manifest


def test_later_file_with_newer_contact_record_replaces_the_older(settings, landing):
    run_ingest(settings, landing, families=["contact_records"])
    newer = {"ContactId": "c-0003", "Channel": "VOICE", "InitiationTimestamp": "2024-01-12T11:00:00Z",
             "LastUpdateTimestamp": "2024-01-15T00:00:00Z", "Queue": {"Name": "Retention"},
             "CustomerEndpoint": {"Address": "020 7946 0999", "Type": "TELEPHONE_NUMBER"}}
    older = {**newer, "ContactId": "c-0002", "LastUpdateTimestamp": "2024-01-01T00:00:00Z", "Queue": {"Name": "Stale"}}
    (landing / TENANT / "contact_records" / "2024" / "02").mkdir(parents=True)
    (landing / TENANT / "contact_records" / "2024" / "02" / "late.jsonl").write_text(json.dumps(newer) + "\n" + json.dumps(older) + "\n")
    summary = run_ingest(settings, landing, families=["contact_records"])
    (s,) = summary.sources
    assert (s.loaded, s.replaced, s.duplicates_skipped) == (1, 1, 1)
    rows = dict(query(settings, "select contact_id, queue_name from raw.contact_records"))
    assert rows["c-0003"] == "Retention" and rows["c-0002"] == "Sales"  # an older re-delivery does not win
    assert query(settings, "select count(*) from raw.contact_records where contact_id = 'c-0003'") == [(1,)]


def test_tombstoned_identity_is_not_reingested(settings, landing):
    key = settings.secret_key
    con = connect(settings)
    tombstones.ensure(con)
    con.executemany(
        "insert into lethe_meta.tombstones values (?, ?, ?, now()::timestamp, 'run-1')",
        [(TENANT, "email", keyed_hash(key, TENANT, "email", "ann.smith@example.com")),
         (TENANT, "contact", keyed_hash(key, TENANT, "contact", "003A000001")),
         (TENANT, "phone", keyed_hash(key, TENANT, "phone", "+442079460018"))],
    )
    con.close()
    summary = run_ingest(settings, landing, families=["crm", "email_events", "contact_records"])
    by = {s.dataset: s for s in summary.sources}
    assert query(settings, "select id from raw.crm_contacts order by id") == [("003A000002",), ("003A000003",)]
    assert query(settings, "select count(*) from raw.email_events where email = 'ann.smith@example.com'") == [(0,)]
    ctr = {c for (c,) in query(settings, "select contact_id from raw.contact_records")}
    assert "c-0001" not in ctr and "c-0002" not in ctr and "c-0003" in ctr
    assert by["crm_contacts"].tombstoned == 1 and by["email_events"].tombstoned == 5
    assert query(settings, "select count(*) from raw.dsr_requests") == [(2,)]  # erasure evidence is kept


def test_unknown_tenant_or_family_is_refused(settings, landing):
    from lethe.errors import ConfigError, UnknownTenantError

    with pytest.raises(UnknownTenantError, match="no tenant folder nobody"):
        run_ingest(settings, landing, tenants=["nobody"])
    with pytest.raises(ConfigError, match="unknown source family"):
        run_ingest(settings, landing, families=["faxes"])


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_")}
    env.update(LETHE_HOME=str(home), LETHE_SECRET_KEY="test-key")
    return subprocess.run([str(LETHE), *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_cli_prints_summary_and_exits_zero(tmp_path, landing):
    done = _cli(["ingest", "--landing", str(landing)], tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "crm_contacts" in done.stdout and "rows loaded" in done.stdout
    as_json = _cli(["ingest", "--landing", str(landing), "--json"], tmp_path / "home")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["sources"] == []
    con = duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True)
    assert con.execute("select count(*) from raw.crm_contacts").fetchone() == (3,)
    con.close()


def test_cli_missing_landing_dir_exits_one_with_one_line(tmp_path):
    done = _cli(["ingest", "--landing", str(tmp_path / "nowhere")], tmp_path / "home")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "nowhere" in done.stderr and "Traceback" not in done.stderr


def test_batch_interrupted_mid_transaction_leaves_nothing_and_retry_loads(settings, landing, monkeypatch):
    import lethe.ingest.load as load

    real = load.insert_rows

    def crash_on_manifest(con, table, *args, **kwargs):
        if table == "lethe_meta.manifest":
            raise KeyboardInterrupt("killed while recording the manifest")
        return real(con, table, *args, **kwargs)

    monkeypatch.setattr(load, "insert_rows", crash_on_manifest)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(settings, landing, families=["campaigns"])
    assert query(settings, "select count(*) from raw.campaigns") == [(0,)]
    assert query(settings, "select count(*) from lethe_meta.manifest") == [(0,)]
    monkeypatch.setattr(load, "insert_rows", real)
    (s,) = run_ingest(settings, landing, families=["campaigns"]).sources
    assert s.loaded == 2 and query(settings, "select count(*) from raw.campaigns") == [(2,)]


def test_a_tenant_folder_the_policy_file_does_not_name_is_reported_not_loaded(settings, landing, tmp_path):
    """Data under a folder with no tenant policy (no controller, no retention) would be kept forever: it is
    not loaded, the summary says why in one line, and it loads once the tenant is added to the policy."""
    stray = landing / "delta-utilities" / "email_events"
    stray.mkdir(parents=True)
    (stray / "webhook.json").write_text(json.dumps([{"email": "someone@example.org", "timestamp": 1706000000,
                                                     "event": "open", "sg_event_id": "stray-1"}]))
    summary = run_ingest(settings, landing)
    assert summary.loaded > 0, "the listed tenants load as before"
    assert [s.tenant for s in summary.sources if s.tenant == "delta-utilities"] == []
    (reason,) = summary.not_loaded
    assert reason.startswith("delta-utilities/: tenant folder not in the tenant policy file ")
    assert "not loaded:\n  delta-utilities/: " in summary.render()
    assert summary.to_dict()["not_loaded"] == [reason]
    assert query(settings, "select count(*) from raw.email_events where tenant_id = 'delta-utilities'") == [(0,)]
    assert query(settings, "select count(*) from lethe_meta.manifest where tenant_id = 'delta-utilities'") == [(0,)]

    policy = tmp_path / "tenants.yml"
    policy.write_text(settings.tenants_file.read_text().replace(
        "tenants:\n", "tenants:\n  delta-utilities:\n    controller: Delta Utilities plc\n", 1))
    later = run_ingest(replace(settings, tenants_file=policy), landing)
    assert later.not_loaded == ()
    assert query(settings, "select count(*) from raw.email_events where tenant_id = 'delta-utilities'") == [(1,)]


def _late_upload(landing: Path) -> tuple[Path, bytes, Path, bytes]:
    """A webhook body and a gzipped contact-record file of new records, complete: (path, bytes) of each."""
    events = [{"email": "gina@example.com", "timestamp": 1705500000 + i, "event": "open", "sg_event_id": f"ev-late-{i}"}
              for i in range(40)]
    ctr = [{"ContactId": f"c-late-{i}", "Channel": "CHAT", "InitiationTimestamp": "2024-01-20T09:00:00Z",
            "LastUpdateTimestamp": "2024-01-20T09:06:00Z", "Queue": {"Name": "Billing"}} for i in range(40)]
    webhook = landing / TENANT / "email_events" / "late" / "webhook.json"
    records = landing / TENANT / "contact_records" / "late" / "ctr.jsonl.gz"
    webhook.parent.mkdir(parents=True)
    records.parent.mkdir(parents=True)
    return (webhook, json.dumps(events).encode(),
            records, gzip.compress("".join(json.dumps(r) + "\n" for r in ctr).encode()))


def _refused(settings, rel: str) -> list[str]:
    return [r for (r,) in query(settings, "select reason from quarantine.files where source_file = ?", [rel])]


def _status(settings, rel: str) -> str:
    return query(settings, "select status from lethe_meta.manifest where path = ?", [rel])[0][0]


def test_half_written_upload_refused_then_completed_at_the_same_path_loads(settings, landing):
    """Ingest saw an upload half-written (array never closed, gzip cut short) and refused it; once the producer
    finishes writing, the next run loads it: it was never loaded, so its new content is no 'change'."""
    families = ["email_events", "contact_records"]
    run_ingest(settings, landing, families=families)
    webhook, events, records, ctr = _late_upload(landing)
    webhook.write_bytes(events[: len(events) // 2])
    records.write_bytes(ctr[: len(ctr) // 2])
    first = run_ingest(settings, landing, families=families)
    assert sum(s.quarantined_files for s in first.sources) == 2 and first.loaded == 0
    rels = {p: p.relative_to(landing).as_posix() for p in (webhook, records)}
    assert "never closed" in _refused(settings, rels[webhook])[0]
    assert "truncated or corrupt gzip" in _refused(settings, rels[records])[0]

    webhook.write_bytes(events)
    records.write_bytes(ctr)
    second = run_ingest(settings, landing, families=families)
    by = {s.dataset: s for s in second.sources}
    assert (by["email_events"].loaded, by["contact_records"].loaded) == (40, 40)
    assert all(s.changed_files == 0 and s.quarantined_files == 0 and s.reasons == () for s in second.sources)
    assert "quarantined:" not in second.render()
    assert query(settings, "select count(*) from raw.email_events where sg_event_id like 'ev-late-%'") == [(40,)]
    assert query(settings, "select count(*) from raw.contact_records where contact_id like 'c-late-%'") == [(40,)]
    for rel in rels.values():
        assert _status(settings, rel) == "loaded"
        assert _refused(settings, rel) == []  # no longer reported as refused
    assert run_ingest(settings, landing, families=families).sources == ()  # and loaded once


def test_replacement_still_broken_is_refused_again_with_its_real_reason(settings, landing):
    webhook, events, records, ctr = _late_upload(landing)
    webhook.write_bytes(b"")
    records.write_bytes(gzip.compress(b""))  # a gzip of nothing: the upload had not begun
    run_ingest(settings, landing, families=["email_events", "contact_records"])
    rels = {p: p.relative_to(landing).as_posix() for p in (webhook, records)}
    assert [_refused(settings, rel) for rel in rels.values()] == [["empty file"], ["empty file"]]

    webhook.write_bytes(events[: len(events) // 2])
    records.write_bytes(ctr[: len(ctr) // 2])
    summary = run_ingest(settings, landing, families=["email_events", "contact_records"])
    assert all(s.changed_files == 0 and s.quarantined_files == 1 and s.loaded == 0 for s in summary.sources)
    (gz_reason,) = _refused(settings, rels[records])
    (json_reason,) = _refused(settings, rels[webhook])
    assert gz_reason.startswith("truncated or corrupt gzip") and json_reason.startswith("not valid JSON")
    text = summary.render()
    assert f"file {rels[records]}: truncated or corrupt gzip" in text and "content changed" not in text
    assert [_status(settings, rel) for rel in rels.values()] == ["quarantined", "quarantined"]

    webhook.write_bytes(events)
    records.write_bytes(ctr)
    assert run_ingest(settings, landing, families=["email_events", "contact_records"]).loaded == 80


def test_changed_file_is_named_in_the_ingest_output(settings, landing):
    """A loaded file changed in place stays refused, and `lethe ingest` (text and --json) names it and why."""
    run_ingest(settings, landing, families=["campaigns"])
    path = landing / TENANT / "campaigns" / "campaigns.csv"
    path.write_text(path.read_text().replace("Winter offers", "Winter offers (edited)"))
    summary = run_ingest(settings, landing, families=["campaigns"])
    (s,) = summary.sources
    assert s.changed_files == 1 and s.loaded == 0
    (reason,) = s.reasons
    assert reason.startswith(f"file {TENANT}/campaigns/campaigns.csv: content changed since it was loaded")
    assert reason.endswith("not reloaded: deliver changes as a new file")
    assert f"quarantined:\n  {TENANT}/campaigns: {reason}" in summary.render()
    assert summary.to_dict()["sources"][0]["reasons"] == [reason]
    assert query(settings, "select name from raw.campaigns where campaign_id = 'camp-1'") == [("Winter offers",)]
    assert query(settings, "select status from lethe_meta.manifest where path like '%campaigns.csv'") == [("changed",)]
    path.write_text(path.read_text().replace("(edited)", "(edited twice)"))
    assert run_ingest(settings, landing, families=["campaigns"]).sources == ()  # reported once, never loaded
    assert query(settings, "select name from raw.campaigns where campaign_id = 'camp-1'") == [("Winter offers",)]
