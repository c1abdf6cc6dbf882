"""The serving snapshot: minimised, complete for the dashboard, swapped in atomically."""

import duckdb
import pytest
import scenario

from lethe.publish import publish


def q(path, sql, params=()):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_snapshot_carries_intake_stats_per_tenant_and_source(tmp_path):
    path = publish(scenario.build_warehouse(tmp_path / "home"))
    rows = q(
        path,
        "select tenant_id, dataset, rows_loaded, rows_quarantined, files_quarantined from intake.summary order by all",
    )
    assert ("acme-energy", "email_events", 40, 1, 0) in rows
    assert ("cobalt-insurance", "contact_records", 0, 0, 1) in rows
    reasons = q(path, "select scope, rule, reason from intake.quarantine_reasons order by all")
    assert ("file", "unparseable_file", "truncated gzip: unexpected end of stream") in reasons


def test_marts_carry_subject_keys_not_addresses(tmp_path):
    path = publish(scenario.build_warehouse(tmp_path / "home"))
    cols = {
        r[0]
        for r in q(path, "select column_name from information_schema.columns where table_schema = 'marts'")
    }
    assert "subject_key" in cols and "address" not in cols and "email" not in cols
    assert ("address",) in q(
        path,
        "select column_name from information_schema.columns where table_schema = 'restricted' and table_name = 'audience_eligible'",
    )
    # the offending record of a quarantined row is never published
    assert ("record",) not in q(
        path, "select column_name from information_schema.columns where table_name = 'quarantine_rows'"
    )
    # an agent's username stays restricted; the marts count agents by a keyed hash
    gaps = {r[0] for r in q(path, "select column_name from information_schema.columns where table_schema = 'marts' and table_name = 'fct_agent_training_gaps'")}
    assert "agent_username" not in gaps and "agent_key" in gaps
    assert q(path, "select agent_username from restricted.fct_agent_training_gaps") == [("sam.agent@acme",)]
    names = q(path, "select first_name from restricted.subjects order by 1")
    assert names == [("Alice",), ("Bob",), ("Carla",)]
    assert q(
        path, "select count(*) from restricted.subjects where subject_key = ?", [scenario.subject_key("003C")]
    ) == [(1,)]


def test_quarantine_reasons_have_addresses_masked(tmp_path):
    settings = scenario.build_warehouse(tmp_path / "home")
    con = duckdb.connect(str(settings.warehouse))
    con.execute("update quarantine.rows set reason = 'invalid phone +44 7700 900123 for dave@example.com'")
    con.close()
    path = publish(settings)
    (reason,) = q(path, "select reason from intake.quarantine_rows")[0]
    assert "dave@example.com" not in reason and "7700" not in reason and "<email>" in reason


def test_as_of_and_published_at_recorded(tmp_path):
    path = publish(scenario.build_warehouse(tmp_path / "home"))
    as_of, published_at = q(path, "select as_of, published_at from snapshot_info")[0]
    assert as_of.isoformat().startswith("2026-03-01T00:00:00")
    assert published_at >= as_of or published_at.year >= 2025


def test_republish_is_atomic_for_open_readers(tmp_path):
    settings = scenario.build_warehouse(tmp_path / "home")
    path = publish(settings)
    reader = duckdb.connect(":memory:")
    reader.execute(f"attach '{path}' as s (read_only)")
    before = reader.execute("select published_at from s.snapshot_info").fetchone()
    con = duckdb.connect(str(settings.warehouse))
    con.execute("delete from marts.audience_eligible where tenant_id = 'cobalt-insurance'")
    con.close()
    publish(settings)
    # the old reader still reads its (old) file without error; a new reader sees the new one
    assert reader.execute("select count(*) from s.marts.audience_eligible").fetchone() == (3,)
    assert reader.execute("select published_at from s.snapshot_info").fetchone() == before
    assert q(path, "select count(*) from marts.audience_eligible") == [(2,)]
    assert not [p for p in path.parent.iterdir() if p.name != path.name], "no temporary file left behind"
    assert path.stat().st_mode & 0o222 == 0, "the snapshot file is read-only"


def test_publish_before_anything_was_built(tmp_path):
    settings = scenario.build_warehouse(tmp_path / "home", marts=False)
    path = publish(settings)
    assert q(path, "select unnest(marts) from snapshot_info") == []
    assert q(path, "select count(*) from intake.summary") == [(4,)]


def test_publish_with_no_warehouse_at_all(tmp_path):
    settings = scenario.settings_for(tmp_path / "empty")
    path = publish(settings)
    assert q(path, "select count(*) from intake.summary") == [(0,)]


@pytest.mark.parametrize("log", ["audit.jsonl"])
def test_corrupt_log_line_does_not_stop_publishing(tmp_path, log):
    settings = scenario.build_warehouse(tmp_path / "home")
    with settings.audit_log.open("a") as fh:
        fh.write("{not json\n")
    path = publish(settings)
    assert q(path, "select records from audit.purges where run_id = 'purge-1'") == [(12,)]


def test_audit_log_published_without_erased_subject_keys(tmp_path):
    settings = scenario.build_warehouse(tmp_path / "home")
    path = publish(settings)
    assert q(path, "select run_id, kind, status, records, rows_touched, subjects_erased from audit.purges") == [
        ("purge-1", "retention", "completed", 12, 40, 1)
    ]
    assert q(path, "select tenant_id, data_category, record_count from audit.purge_counts order by 1") == [
        ("acme-energy", "campaign.event", 9),
        ("cobalt-insurance", "crm.contact", 3),
    ]
    columns = {r[0] for r in q(path, "select column_name from information_schema.columns where table_schema = 'audit'")}
    assert "subject_keys" not in columns


def test_snapshot_as_of_is_the_instant_the_marts_were_judged_at(tmp_path):
    settings = scenario.build_warehouse(tmp_path / "home").with_as_of("2030-01-01T00:00:00Z")
    path = publish(settings)
    (as_of,) = q(path, "select as_of from snapshot_info")[0]
    assert as_of.isoformat().startswith("2026-03-01T00:00:00"), "a later publish does not relabel old marts"


def test_an_old_duplicate_contact_is_published_under_its_persons_subject_key(tmp_path):
    settings = scenario.build_warehouse(tmp_path / "home")
    scenario.add_duplicate_contact(settings)
    path = publish(settings)
    alice = scenario.subject_key("003A")
    assert q(path, "select crm_contact_id, subject_key from restricted.subjects where first_name = 'Alice' "
                   "order by 1") == [("003A", alice), ("003D", alice)], "one person, one key, each contact kept"
    # every published subject key is one the marts use
    assert q(path, "select count(*) from restricted.subjects where subject_key not in "
                   "(select subject_key from marts.audience_eligible union select subject_key from marts.fct_consent_status)"
             ) == [(0,)]


def test_tenant_regions_are_published_for_the_phone_lookup(real):
    # the generated contacts carry a MailingCountry: the tenant's regions, most common first
    con = duckdb.connect(str(real.snapshot), read_only=True)
    try:
        rows = con.execute("select tenant_id, region from main.tenant_regions where region_order = 0 order by 1").fetchall()
    finally:
        con.close()
    assert rows and all(len(region) == 2 for _, region in rows)


def test_a_killed_publish_leaves_no_copy_behind_the_next_one(tmp_path):
    """A publish killed before its swap left `.current-<id>.building.duckdb` (and its WAL) in snapshot/, with
    restricted.subjects in it: names, emails and phones that no later erasure reached. The next publish removes
    any such copy."""
    settings = scenario.build_warehouse(tmp_path / "home")
    path = publish(settings)
    stale = path.parent / f".{path.stem}-0123abcd.building.duckdb"
    duckdb.connect(str(stale)).execute("create table t as select 'someone@example.org' as email").close()
    stale.with_name(stale.name + ".wal").write_bytes(b"someone@example.org")
    publish(settings)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
