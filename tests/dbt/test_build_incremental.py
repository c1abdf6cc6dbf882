"""Incremental build: one more day of data folded in equals a full rebuild; purged raw rows never survive."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from rawlayer import AS_OF, SECRET

from lethe import cli
from lethe.build import BuildError, dbt_target_dir, run_build
from lethe.ingest import run_ingest
from lethe.purge import journal
from lethe.settings import Settings, get_settings, load_settings
from lethe.synth.generator import generate
from lethe.synth.next_day import write_next_day

INCREMENTAL = "intermediate.int_email_messages_first_sent"
DOWNSTREAM = "intermediate.int_marketing_touches_unioned"
SELECT = f"+{DOWNSTREAM.split('.')[1]}"  # the incremental model, its sources and its first consumer


def _fingerprint(settings: Settings, table: str) -> tuple[int, int]:
    """Row count and an order-independent checksum of every column of every row."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        n, checksum = con.execute(f"select count(*), coalesce(sum(hash(t)), 0) from {table} t").fetchone()  # noqa: S608
        return int(n), int(checksum)
    finally:
        con.close()


def _query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _bookkeeping_written(settings: Settings, model: str) -> list[str]:
    """The bookkeeping tables a model's config names (the purge's compaction leaves them out when it rebuilds the
    model), each checked to be in the warehouse as the model's hooks wrote it."""
    manifest = json.loads((dbt_target_dir(settings) / "manifest.json").read_text())
    names = manifest["nodes"][f"model.lethe.{model}"]["config"]["meta"]["bookkeeping_tables"]
    found = _query(settings, "select schema_name || '.' || table_name from duckdb_tables() "
                             "where list_contains(?, schema_name || '.' || table_name) order by 1", [names])
    assert [name for (name,) in found] == sorted(names), f"{model}'s bookkeeping tables are where its meta says"
    return names


def _move_a_mailed_address(settings: Settings) -> tuple[tuple[str, str], str]:
    """A CRM contact's email address, which was mailed, moves to a contact of another person of the same tenant (the
    giver gets a new address no event names): ((giver's Contact Id, the address), taker's Contact Id)."""
    con = duckdb.connect(str(settings.warehouse))
    try:
        giver, address, taker = con.execute(
            "select a.id, lower(a.email), b.id from raw.crm_contacts a join raw.crm_contacts b "
            "on b.tenant_id = a.tenant_id and b.id <> a.id and b.individual_id is distinct from a.individual_id "
            "where exists (select 1 from raw.email_events e where e.tenant_id = a.tenant_id "
            "and e.email = lower(a.email) and e.event = 'delivered') and (select count(*) from raw.crm_contacts o "
            "where o.tenant_id = a.tenant_id and lower(o.email) = lower(a.email)) = 1 order by a.id, b.id limit 1"
        ).fetchone()
        con.execute("update raw.crm_contacts set email = 'moved-' || id || '@example.invalid' where id = ?", [giver])
        con.execute("update raw.crm_contacts set email = ? where id = ?", [address, taker])
    finally:
        con.close()
    return (giver, address), taker


def _built_home(root: Path, subjects: int, select: str) -> Settings:
    """A generated landing zone of two tenants, ingested and built (`select`) at AS_OF."""
    landing = root / "landing"
    generate(landing, tenants=2, subjects=subjects, end=AS_OF + "Z")
    settings = load_settings({
        "LETHE_HOME": str(root / "home"), "LETHE_LANDING": str(landing), "LETHE_TENANTS": str(landing / "tenants.yml"),
        "LETHE_SECRET_KEY": SECRET, "LETHE_AS_OF": AS_OF,
    })
    run_ingest(settings, landing=landing)
    run_build(settings, select=select)
    return settings


def _next_day_built(settings: Settings, select: str) -> Settings:
    """One more day of SendGrid events and contact records, ingested and built (incrementally) a day later."""
    drop = write_next_day(settings.landing, settings.as_of.date())
    assert drop.email_events > 0
    nxt = settings.with_as_of(settings.as_of + timedelta(days=1))
    run_ingest(nxt, landing=settings.landing)
    run_build(nxt, select=select)
    return nxt


@pytest.fixture(scope="module")
def next_day_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, tuple[int, int]], int]:
    """A generated home built at AS_OF, then one more day ingested and built incrementally at AS_OF + 1 day."""
    settings = _built_home(tmp_path_factory.mktemp("incremental"), subjects=60, select=SELECT)
    messages_before = _fingerprint(settings, INCREMENTAL)[0]
    nxt = _next_day_built(settings, select=SELECT)
    incremental = {t: _fingerprint(nxt, t) for t in (INCREMENTAL, DOWNSTREAM)}
    assert incremental[INCREMENTAL][0] > messages_before, "the new day's messages were folded in"
    return nxt, incremental, messages_before


def test_incremental_build_equals_a_full_refresh_of_the_same_data(next_day_home) -> None:
    settings, incremental, _ = next_day_home
    run_build(settings, select=SELECT, full_refresh=True)
    assert {t: _fingerprint(settings, t) for t in incremental} == incremental


def _delete_sender(settings: Settings, offset: int) -> set[str]:
    """Delete every raw email event of one mailed address (as a purge does); return the deleted event ids."""
    con = duckdb.connect(str(settings.warehouse))
    try:
        email = con.execute(
            f"select email from {INCREMENTAL} group by email order by email limit 1 offset {offset}"  # noqa: S608
        ).fetchone()[0]
        ids = {r[0] for r in con.execute(
            "select sg_event_id from raw.email_events where lower(trim(email)) = ?", [email]).fetchall()}
        con.execute("delete from raw.email_events where lower(trim(email)) = ?", [email])
        return ids
    finally:
        con.close()


@pytest.mark.parametrize("full_refresh", [True, False], ids=["purge-full-refresh", "safety-net-without-full-refresh"])
def test_deleted_raw_rows_do_not_survive_in_incremental_models(next_day_home, full_refresh: bool) -> None:
    settings, _, _ = next_day_home
    deleted = _delete_sender(settings, offset=0 if full_refresh else 1)
    assert deleted
    survivors = lambda: _query(settings, f"select sg_event_id from {INCREMENTAL}")  # noqa: E731, S608
    assert {r[0] for r in survivors()} & deleted, "the address had a send folded in before the purge"
    run_build(settings, select=SELECT, full_refresh=full_refresh)
    assert not {r[0] for r in survivors()} & deleted
    touches = _query(settings, f"select record_id from {DOWNSTREAM} where source_table = 'email_events'")  # noqa: S608
    assert not {r[0] for r in touches} & deleted
    folded = _fingerprint(settings, INCREMENTAL)
    run_build(settings, select=SELECT, full_refresh=True)
    assert _fingerprint(settings, INCREMENTAL) == folded


FEATURES = "intermediate.int_engagement_features"
DAILY = "intermediate.int_engagement_daily"
FEATURES_SELECT = "+int_engagement_subject_digests"  # the features, their inputs, and the digests built after them


def _features(settings: Settings) -> tuple[int, int]:
    """_fingerprint of the features without their lineage column (the as-of each row was computed at)."""
    return _fingerprint(settings, f"(select * exclude (computed_as_of) from {FEATURES})")


EVENTS = "intermediate.int_engagement_events"
EVENTS_RECOMPUTED = "select subjects_recomputed from intermediate.int_engagement_events_built"
EVENTS_COUNTED_ALL = "select counted_every_address from intermediate.int_engagement_events_built"
EVENT_SUBJECTS = f"select count(distinct (tenant_id, subject_key)) from {EVENTS}"  # noqa: S608


@pytest.fixture(scope="module")
def engagement_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, tuple[int, int]], int, tuple[int, int]]:
    """Engagement features built at AS_OF, then one more day ingested and the features built incrementally."""
    settings = _built_home(tmp_path_factory.mktemp("incremental-features"), subjects=80, select=FEATURES_SELECT)
    assert _query(settings, EVENTS_RECOMPUTED) == [(None,)], "the first build computed every subject's events"
    nxt = _next_day_built(settings, select=FEATURES_SELECT)
    recomputed = _query(nxt, f"select count(*) filter (where computed_as_of = '{nxt.as_of:%Y-%m-%d}') from {FEATURES}")
    events_recomputed = _query(nxt, f"select ({EVENTS_RECOMPUTED}), ({EVENT_SUBJECTS})")[0]
    assert _query(nxt, EVENTS_COUNTED_ALL) == [(False,)], "a day of new rows only: the new rows were counted, not all"
    fingerprints = {FEATURES: _features(nxt), DAILY: _fingerprint(nxt, DAILY), EVENTS: _fingerprint(nxt, EVENTS)}
    return nxt, fingerprints, recomputed[0][0], events_recomputed


def test_incremental_features_equal_a_full_refresh_and_keep_the_history(engagement_home, monkeypatch) -> None:
    """The day's build recomputes a small part of the weekly history (open label windows, the as-of
    snapshot, subjects with new activity), the daily rows and the engagement events of subjects with new
    activity, and ends equal to recomputing all of it."""
    settings, incremental, written, (events_recomputed, event_subjects) = engagement_home
    total = incremental[FEATURES][0]
    assert 0 < written < total / 2, f"the incremental build rewrote {written} of {total} feature rows"
    assert 0 < events_recomputed < event_subjects, f"recomputed the events of {events_recomputed} of {event_subjects}"
    assert len(_bookkeeping_written(settings, "int_engagement_events")) == 2
    monkeypatch.setenv("LETHE_HOME", str(settings.home))
    monkeypatch.setenv("LETHE_TENANTS", str(settings.tenants_file))
    monkeypatch.setenv("LETHE_SECRET_KEY", SECRET)
    get_settings.cache_clear()  # the CLI reads the environment above once per process
    try:
        as_of = f"{settings.as_of:%Y-%m-%dT%H:%M:%SZ}"
        assert cli.main(["build", "--select", FEATURES_SELECT, "--full-refresh", "--as-of", as_of]) == 0
    finally:
        get_settings.cache_clear()
    assert _query(settings, f"select count(distinct computed_as_of) from {FEATURES}") == [(1,)]
    full = {FEATURES: _features(settings), DAILY: _fingerprint(settings, DAILY), EVENTS: _fingerprint(settings, EVENTS)}
    assert full == incremental


def test_incremental_features_follow_changed_history_and_an_earlier_as_of(engagement_home) -> None:
    """Rows of old snapshots change when a subject's past changes (here: their raw email events deleted, as
    a purge without --full-refresh would) and the label windows reopen when as-of moves back a day: the
    incremental build still ends equal to a full recompute."""
    settings, _, _, _ = engagement_home
    con = duckdb.connect(str(settings.warehouse))
    try:
        email = con.execute(
            "select email from raw.email_events group by email order by count(*) desc, email limit 1"
        ).fetchone()[0]
        con.execute("delete from raw.email_events where email = ? and event = 'open'", [email])
    finally:
        con.close()
    earlier = settings.with_as_of(settings.as_of - timedelta(days=1))
    run_build(earlier, select=FEATURES_SELECT)
    assert _query(earlier, EVENTS_COUNTED_ALL) == [(True,)], "rows went: every address was counted"
    recomputed = _query(
        earlier, f"select count(*) filter (where computed_as_of = '{earlier.as_of:%Y-%m-%d}'), count(*) from {FEATURES}"
    )[0]
    assert 0 < recomputed[0] < recomputed[1]
    incremental = (_features(earlier), _fingerprint(earlier, DAILY), _fingerprint(earlier, EVENTS))
    run_build(earlier, select=FEATURES_SELECT, full_refresh=True)
    assert (_features(earlier), _fingerprint(earlier, DAILY), _fingerprint(earlier, EVENTS)) == incremental


EVENTS_SELECT = "+int_engagement_events"


def _events_equal_a_full_rebuild(settings: Settings, change: str, *, counted_all: bool) -> int:
    """Build the engagement events incrementally, then recompute them whole: the same rows. Returns the number of
    subjects the incremental build recomputed."""
    run_build(settings, select=EVENTS_SELECT)
    assert _query(settings, EVENTS_COUNTED_ALL) == [(counted_all,)], f"{change}: counted every address"
    recomputed, subjects = _query(settings, f"select ({EVENTS_RECOMPUTED}), ({EVENT_SUBJECTS})")[0]
    assert recomputed is not None and recomputed < subjects, f"{change}: recomputed a scope, not every subject"
    incremental = _fingerprint(settings, EVENTS)
    run_build(settings, select=EVENTS_SELECT, full_refresh=True)
    assert _fingerprint(settings, EVENTS) == incremental, f"{change}: the scoped build missed events"
    return recomputed


def test_engagement_events_follow_as_of_rows_replaced_in_place_and_an_address_that_moved(engagement_home) -> None:
    """Each of these changes only some subjects' events, and the scoped build finds them: as-of a day later (the
    day's events come in; nothing was loaded), an email event rewritten in place by a later load (same address,
    same number of rows), and a CRM contact's email address moving to another person (no raw event changes)."""
    settings, _, _, _ = engagement_home  # built whole at as-of minus a day by the test above
    assert _events_equal_a_full_rebuild(settings, "as-of a day later", counted_all=False) > 0
    con = duckdb.connect(str(settings.warehouse))
    try:
        # a delivered email, well before as-of, of a CRM subject becomes a bounce in a later load
        event_id, email = con.execute(
            "select e.sg_event_id, e.email from raw.email_events e join raw.crm_contacts c "
            "on c.tenant_id = e.tenant_id and lower(c.email) = e.email where e.event = 'delivered' "
            "and e.event_at < cast(? as timestamp) - interval 10 day order by e.sg_event_id limit 1",
            [settings.as_of.replace(tzinfo=None)]).fetchone()
        con.execute("update raw.email_events set event = 'bounce', _loaded_at = cast(timezone('UTC', now()) as timestamp) "
                    "where sg_event_id = ?", [event_id])  # as ingest stamps a replaced row: in UTC
    finally:
        con.close()
    bounces = f"select count(*) from {EVENTS} where event_kind = 'bounce'"  # noqa: S608
    before = _query(settings, bounces)
    _events_equal_a_full_rebuild(settings, "an event rewritten in place", counted_all=True)
    assert _query(settings, bounces)[0][0] == before[0][0] + 1
    _, taker = _move_a_mailed_address(settings)
    _events_equal_a_full_rebuild(settings, "an address that moved", counted_all=False)
    owner = (f"select count(*) from {EVENTS} e join intermediate.int_subject_identities_resolved i "
             "on i.tenant_id = e.tenant_id and i.subject_key = e.subject_key "
             "where i.identity_kind = 'contact' and i.identity_value = ? and e.event_kind = 'send'")
    assert _query(settings, owner, [taker])[0][0] > 0, "the moved address's sends are the taker's now"


def test_a_build_while_a_purge_awaits_its_rebuild_recomputes_everything(engagement_home) -> None:
    """A purge anonymises raw rows in place (their load instant unchanged), which no daily scope can see; stopped
    before its rebuild, it leaves that to the next build: a build in between recomputes every model, so the
    anonymised events are gone from the engagement events as they are after a full rebuild."""
    settings, _, _, _ = engagement_home
    con = duckdb.connect(str(settings.warehouse))
    try:
        email = con.execute(
            "select e.email from raw.email_events e join raw.crm_contacts c on c.tenant_id = e.tenant_id "
            "and lower(c.email) = e.email where e.event = 'delivered' group by 1 order by count(*) desc, 1 limit 1"
        ).fetchone()[0]
        journal.ensure(con)
        con.execute("insert into lethe_meta.purge_runs (run_id, kind, created_at, as_of, policy_sha256, status, phase) "
                    "values ('run-stopped', 'retention', now(), now(), 'x', 'running', 'files')")
        con.execute("update raw.email_events set email = null where email = ?", [email])  # as the purge anonymises
    finally:
        con.close()
    sends = f"select count(*) from {EVENTS} where event_kind = 'send'"  # noqa: S608
    before = _query(settings, sends)[0][0]
    run_build(settings, select=EVENTS_SELECT)
    assert _query(settings, EVENTS_RECOMPUTED) == [(None,)], "every subject's events were recomputed"
    assert _query(settings, sends)[0][0] < before
    incremental = _fingerprint(settings, EVENTS)
    run_build(settings, select=EVENTS_SELECT, full_refresh=True)
    assert _fingerprint(settings, EVENTS) == incremental


# the models refreshed by difference, everything they read, and the consent ledger's digests (built after it)
DIFF_SELECT = "+config.materialized:diff_table +int_consent_subject_digests"
LEDGER = "int_consents_resolved"  # incremental by subject (macros/subject_refresh.sql), compared like the others
LEDGER_DIGESTS = "int_consent_subject_digests"


def _diff_tables(settings: Settings) -> dict[str, str]:
    """Every diff_table model's relation (schema.name) by model name, from the home's dbt manifest."""
    from lethe.build import dbt_target_dir

    nodes = json.loads((dbt_target_dir(settings) / "manifest.json").read_text())["nodes"].values()
    return {n["name"]: f"{n['schema']}.{n['alias']}" for n in nodes
            if n["resource_type"] == "model" and n["config"]["materialized"] == "diff_table"}


def _diff_responses(result) -> dict[str, str]:
    """What the build did to each model: 'MERGE n' (rows inserted, updated or deleted) for a difference applied."""
    results = json.loads((result.target_dir / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["adapter_response"].get("_message", "")
            for r in results if r["unique_id"].startswith("model.")}


@pytest.fixture(scope="module")
def diff_home(tmp_path_factory: pytest.TempPathFactory):
    """The diff_table models (identities, record anchors, consent ledger, violations, ...) built at AS_OF, then one
    more day ingested and built a day later: they merge the difference instead of rewriting themselves."""
    settings = _built_home(tmp_path_factory.mktemp("incremental-diff"), subjects=60, select=DIFF_SELECT)
    tables = _diff_tables(settings)
    assert {"int_retention_records_anchored", "fct_violations", "fct_consent_status"} <= set(tables)
    tables[LEDGER] = f"intermediate.{LEDGER}"
    drop = write_next_day(settings.landing, settings.as_of.date())
    nxt = settings.with_as_of(settings.as_of + timedelta(days=1))
    run_ingest(nxt, landing=settings.landing)
    responses = _diff_build(nxt)
    assert drop.contact_records > 0
    return nxt, tables, responses


def _diff_build(settings: Settings) -> dict:
    """run_build(DIFF_SELECT) (incremental), and what it did: each model's response, and for the consent ledger the
    SELECT dbt compiled (later builds overwrite it), how many subjects it had to recompute (their consent-event
    digest changed, appeared or vanished) and out of how many."""
    digests = f"select * from intermediate.{LEDGER_DIGESTS}"
    before = set(_query(settings, digests))
    responses = _diff_responses(run_build(settings, select=DIFF_SELECT))
    after = set(_query(settings, digests))
    compiled = next((settings.home / "dbt" / "target" / "compiled").rglob(f"{LEDGER}.sql")).read_text()
    return {**responses, f"{LEDGER}.sql": compiled, f"{LEDGER}.recomputed": len({r[:2] for r in before ^ after}),
            f"{LEDGER}.subjects": len({r[:2] for r in before | after})}


def _ledger_was_incremental(responses: dict) -> bool:
    """The ledger's build read only the subjects whose consent events changed, and fewer than half of them."""
    return ("the subjects whose consent events changed" in responses[f"{LEDGER}.sql"]
            and responses[f"{LEDGER}.recomputed"] < responses[f"{LEDGER}.subjects"] / 2)


# columns that say when a build put a row in or changed it: a full rebuild puts every row in anew
STAMPS = {"int_retention_records_anchored": "row_inserted_at, row_changed_at"}
# whether the record anchors' last build computed every email event's row (or those loaded since and those of
# addresses whose subject changed: macros/retention_anchors_refresh.sql)
ANCHORS_WHOLE = "select computed_every_email_event from intermediate.int_retention_records_anchored_built"


def _diff_state(settings: Settings, tables: dict[str, str]) -> dict[str, tuple[int, int]]:
    return {name: _fingerprint(settings, f"(select * exclude ({STAMPS[name]}) from {relation})" if name in STAMPS
                               else relation) for name, relation in tables.items()}


def test_models_refreshed_by_difference_equal_a_full_rebuild_after_one_more_day(diff_home) -> None:
    settings, tables, responses = diff_home
    applied = {name: responses[name] for name in tables if name != LEDGER}
    assert all(r.startswith("MERGE ") for r in applied.values()), applied
    changed = {name: int(r.split()[1]) for name, r in applied.items()}
    rows = _diff_state(settings, tables)
    assert changed["int_retention_records_anchored"] > 0, "the new day's records went in"
    assert changed["int_retention_records_anchored"] < rows["int_retention_records_anchored"][0] / 10
    assert _query(settings, ANCHORS_WHOLE) == [(False,)], "the anchors computed the new email events only"
    assert _query(settings, DUE_MERGED_ALL) == [(False,)], "the due list merged the status's recomputed records only"
    # the violations' as_of column moved to the new day on every row without rewriting them
    assert changed["fct_violations"] < rows["fct_violations"][0] / 2
    as_of = settings.as_of.replace(tzinfo=None)
    assert _query(settings, f"select distinct as_of from {tables['fct_violations']}") == [(as_of,)]  # noqa: S608
    run_build(settings, select=DIFF_SELECT, full_refresh=True)
    assert _diff_state(settings, tables) == rows
    assert _query(settings, ANCHORS_WHOLE) == [(True,)]


def test_the_consent_ledger_recomputes_only_subjects_whose_consent_events_changed(diff_home) -> None:
    """The day's build of the ledger read only the subjects whose consent events changed, not everyone (the SQL
    dbt ran says so), yet ended equal to a full rebuild (the test above)."""
    _, _, responses = diff_home
    assert _ledger_was_incremental(responses), responses


def test_models_refreshed_by_difference_drop_deleted_rows_and_follow_an_earlier_as_of(diff_home) -> None:
    """Raw rows deleted behind the build's back (a CRM contact, an address's email events) and as-of moved back a
    day: the merged difference still ends equal to a full rebuild, and the deleted records are gone."""
    settings, tables, _ = diff_home
    con = duckdb.connect(str(settings.warehouse))
    try:
        contact = con.execute("select id from raw.crm_contacts order by id limit 1").fetchone()[0]
        email = con.execute("select email from raw.email_events group by email order by count(*) desc limit 1").fetchone()[0]
        events = {r[0] for r in con.execute("select sg_event_id from raw.email_events where email = ?", [email]).fetchall()}
        con.execute("delete from raw.crm_contacts where id = ?", [contact])
        con.execute("delete from raw.email_events where email = ?", [email])
    finally:
        con.close()
    earlier = settings.with_as_of(settings.as_of - timedelta(days=1))
    responses = _diff_build(earlier)
    assert int(responses["int_retention_records_anchored"].split()[1]) >= len(events)
    whole = _query(earlier, ANCHORS_WHOLE)
    # the deleted contact's and address's consent events (and the last day's) changed: those subjects were
    # recomputed, the others kept, and the ledger still equals a full rebuild (below)
    assert _ledger_was_incremental(responses) and responses[f"{LEDGER}.recomputed"] > 0, responses
    anchored = tables["int_retention_records_anchored"]
    deleted = sorted(events | {contact})
    assert _query(earlier, f"select record_id from {anchored} where list_contains(?, record_id)", [deleted]) == []  # noqa: S608
    rows = _diff_state(earlier, tables)
    run_build(earlier, select=DIFF_SELECT, full_refresh=True)
    assert _diff_state(earlier, tables) == rows
    assert whole == [(True,)], "email events went: the anchors computed every one"


def test_record_anchors_follow_an_email_address_that_moved_to_another_person(diff_home) -> None:
    """A CRM contact's email address moves to a contact of another person (no raw email event changes): the anchors'
    daily build computes that address's email events with the rest of its scope, their records are the new owner's,
    and the tables end equal to a full rebuild."""
    settings, tables, _ = diff_home
    (giver, address), taker = _move_a_mailed_address(settings)
    _diff_build(settings)
    assert _query(settings, ANCHORS_WHOLE) == [(False,)]
    owners = (f"select distinct i.identity_value from {tables['int_retention_records_anchored']} a "  # noqa: S608
              "join raw.email_events e on e.sg_event_id = a.record_id join intermediate.int_subject_identities_resolved i "
              "on i.tenant_id = a.tenant_id and i.subject_key = a.subject_key and i.identity_kind = 'contact' "
              "where a.source_table = 'email_events' and e.email = ?")
    assert (taker,) in _query(settings, owners, [address]) and (giver,) not in _query(settings, owners, [address])
    rows = _diff_state(settings, tables)
    run_build(settings, select=DIFF_SELECT, full_refresh=True)
    assert _diff_state(settings, tables) == rows


def test_a_ledger_without_digests_is_recomputed_whole_not_appended_to(diff_home) -> None:
    """A home whose ledger table predates its digests (an upgrade from the diff_table ledger, or digests lost):
    the next build recomputes every subject in place of the old rows, and then keeps digests again."""
    settings, tables, _ = diff_home
    ledger = _fingerprint(settings, tables[LEDGER])
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute(f"drop table intermediate.{LEDGER_DIGESTS}")
    finally:
        con.close()
    run_build(settings, select=f"{LEDGER} {LEDGER_DIGESTS}")
    assert _fingerprint(settings, tables[LEDGER]) == ledger
    assert _query(settings, f"select count(*) > 0 from intermediate.{LEDGER_DIGESTS}") == [(True,)]


def test_a_model_whose_columns_changed_is_rebuilt_not_diffed(diff_home) -> None:
    settings, tables, _ = diff_home
    relation = tables["int_subject_identities_resolved"]
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute(f"alter table {relation} add column stale varchar")  # as an older version's table would hold
    finally:
        con.close()
    responses = _diff_responses(run_build(settings, select="int_subject_identities_resolved"))
    assert not responses["int_subject_identities_resolved"].startswith("MERGE")
    columns = [r[0] for r in _query(settings, f"select column_name from (describe {relation})")]
    assert "stale" not in columns


def test_record_anchors_whose_columns_changed_are_rebuilt_whole_not_from_their_daily_scope(diff_home) -> None:
    """The anchors' SELECT was narrowed to the day's scope when the build found the table's columns changed: the
    rebuilt table still holds every record (the scope is widened first), as a full rebuild does."""
    settings, tables, _ = diff_home
    relation = tables["int_retention_records_anchored"]
    exclude = f"(select * exclude ({STAMPS['int_retention_records_anchored']}) from {relation})"
    full = _fingerprint(settings, exclude)
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute(f"alter table {relation} add column stale varchar")  # as an older version's table would hold
    finally:
        con.close()
    responses = _diff_responses(run_build(settings, select="int_retention_records_anchored"))
    assert not responses["int_retention_records_anchored"].startswith("MERGE")
    assert _fingerprint(settings, exclude) == full
    assert _query(settings, ANCHORS_WHOLE) == [(True,)]


def test_a_duplicated_key_fails_the_unique_key_test(diff_home) -> None:
    """The unique-key test every diff_table model relies on (it groups by a hash of the key first) still finds a
    duplicated key, and the build fails naming it."""
    settings, tables, _ = diff_home
    relation = tables["int_retention_records_anchored"]
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute(f"insert into {relation} select * from {relation} order by record_id limit 1")  # noqa: S608
    finally:
        con.close()
    test = "lethe_unique_combination_int_retention_records_anchored_tenant_id__source_table__record_id"
    with pytest.raises(BuildError, match="lethe_unique_combination_int_retention_records_anchored"):
        run_build(settings, select=test)
    run_build(settings, select="int_retention_records_anchored", full_refresh=True)
    run_build(settings, select=test)


STATUS = "marts.fct_retention_status"
STATUS_SELECT = "+fct_retention_status"  # the status and everything it reads
STATUS_SCOPED = "the records whose row may have changed"  # in the SQL dbt compiled for a scoped build


STATUS_SINCE = "anchored rows new or changed since the last build"  # (a) from the anchors' stamps
STATUS_EVERY_ROW = "every row compared"  # (a) when rows may have gone from the anchors


def _status_build(settings: Settings) -> str:
    """run_build(STATUS_SELECT) (incremental); the SQL dbt compiled for fct_retention_status and, when it recomputed
    a scope, the scope's SQL its pre-hook ran (from dbt's log)."""
    run_build(settings, select=STATUS_SELECT)
    compiled = next((settings.home / "dbt" / "target" / "compiled").rglob("fct_retention_status.sql")).read_text()
    log = (settings.home / "dbt" / "logs" / "dbt.log").read_text()
    run = log[log.rfind("Running with dbt"):]
    start = run.rfind("create or replace temporary table fct_retention_status__scope")
    return compiled + (run[start:run.find("SQL status", start)] if start >= 0 else "")


@pytest.fixture(scope="module")
def status_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """fct_retention_status built at AS_OF, then one more day ingested and the status built a day later."""
    settings = _built_home(tmp_path_factory.mktemp("incremental-status"), subjects=60, select=STATUS_SELECT)
    write_next_day(settings.landing, settings.as_of.date())
    nxt = settings.with_as_of(settings.as_of + timedelta(days=1))
    run_ingest(nxt, landing=settings.landing)
    return nxt, _status_build(nxt)


def _status_equals_a_full_rebuild(settings: Settings) -> tuple[int, int]:
    incremental = _fingerprint(settings, STATUS)
    run_build(settings, select=STATUS_SELECT, full_refresh=True)
    assert _fingerprint(settings, STATUS) == incremental
    return incremental


def test_retention_status_recomputes_only_what_a_day_may_change_and_equals_a_full_rebuild(status_home) -> None:
    settings, compiled = status_home
    assert STATUS_SCOPED in compiled, "the day's build read only the records in its scope"
    assert STATUS_SINCE in compiled and STATUS_EVERY_ROW not in compiled, "it read the anchors' changes only"
    rows, _ = _status_equals_a_full_rebuild(settings)
    assert rows > 0
    assert len(_bookkeeping_written(settings, "fct_retention_status")) == 4


def test_retention_status_follows_holds_erasures_policy_deleted_records_and_a_later_as_of(status_home) -> None:
    """A legal hold starting (and holding a household phone's calls), an erasure request, a shorter retention for one category, raw email events deleted
    behind the build's back and as-of 40 days later (records falling due): the scoped build judges every record
    a full rebuild does, and the held person's records are held, the erased person's due."""
    settings, _ = status_home
    later = settings.with_as_of(settings.as_of + timedelta(days=40))
    day = f"{later.as_of:%Y-%m-%d}"
    con = duckdb.connect(str(settings.warehouse))
    try:
        # a hold from the new as-of day on, naming a contact (by id and email) who was mailed
        held = con.execute(
            "select c.tenant_id, c.id, c.email from raw.crm_contacts c "
            "where exists (select 1 from raw.email_events e where e.tenant_id = c.tenant_id and e.email = c.email) "
            "and not exists (select 1 from raw.legal_holds h where h.crm_contact_id = c.id) order by c.id limit 1"
        ).fetchone()
        con.execute(
            "insert into raw.legal_holds (tenant_id, hold_id, crm_contact_id, subject_email, reason, start_date, "
            "_loaded_at) values (?, 'LH-TEST-1', ?, ?, 'litigation', cast(? as date), now())", [*held, day])
        # the held person's new mobile is the phone of someone modified later, who keeps it and its calls: those
        # calls are held by the held person's address, not by their subject
        household = con.execute(
            "select o.id, o.phone from raw.crm_contacts o where o.tenant_id = ? and o.id <> ? "
            "and o.last_modified_date > (select max(last_modified_date) from raw.crm_contacts where id = ?) "
            "and exists (select 1 from raw.contact_records r where r.tenant_id = o.tenant_id "
            "and r.customer_address = o.phone) and not exists (select 1 from raw.legal_holds h "
            "where h.crm_contact_id = o.id or h.subject_email = o.email) and not exists (select 1 from "
            "raw.dsr_requests d where d.crm_contact_id = o.id or d.subject_email = o.email or d.subject_phone = o.phone) "
            "order by o.id limit 1", [held[0], held[1], held[1]]).fetchone()
        con.execute("update raw.crm_contacts set mobile_phone = ? where id = ?", [household[1], held[1]])
        # an erasure request of another contact, received and verified before the new as-of
        erased = con.execute(
            "select c.tenant_id, c.id from raw.crm_contacts c where c.id <> ? and exists (select 1 from "
            "raw.email_events e where e.tenant_id = c.tenant_id and e.email = c.email) order by c.id desc limit 1",
            [held[1]]).fetchone()
        con.execute(
            "insert into raw.dsr_requests (tenant_id, request_id, received_at, type, crm_contact_id, verified_at, "
            "_loaded_at) values (?, 'DSR-TEST-1', cast(? as timestamp) - interval 2 day, 'erasure', ?, "
            "cast(? as timestamp) - interval 1 day, now())", [erased[0], day, erased[1], day])
        email = con.execute("select email from raw.email_events where email <> ? and email is not null "
                            "group by email order by count(*) desc limit 1", [held[2]]).fetchone()[0]
        con.execute("delete from raw.email_events where email = ?", [email])
    finally:
        con.close()
    policy = later.tenants_file.read_text()  # one tenant keeps its email events 300 days less
    assert "campaign.event: 395" in policy
    later.tenants_file.write_text(policy.replace("campaign.event: 395", "campaign.event: 95", 1))
    compiled = _status_build(later)
    assert STATUS_SCOPED in compiled
    assert STATUS_EVERY_ROW in compiled, "rows went from the anchors: every anchored row is compared"
    _status_equals_a_full_rebuild(later)
    assert _query(later, f"select count(*) > 0 from {STATUS} where retention_days = 95") == [(True,)]  # noqa: S608
    by_contact = ("select bool_and(s.{}) from marts.fct_retention_status s join intermediate.int_subject_identities_resolved i "
                  "on i.tenant_id = s.tenant_id and i.subject_key = s.subject_key and i.identity_kind = 'contact' "
                  "where i.identity_value = ?")
    assert _query(later, by_contact.format("is_held"), [held[1]]) == [(True,)]
    # the household phone's calls are held, though they are not the held person's
    calls = ("select bool_and(s.is_held), bool_or(s.subject_key = i.subject_key) from marts.fct_retention_status s "
             "join raw.contact_records r on r.tenant_id = s.tenant_id and r.contact_id = s.record_id "
             "join intermediate.int_subject_identities_resolved i on i.tenant_id = s.tenant_id "
             "and i.identity_kind = 'contact' and i.identity_value = ? "
             "where s.source_table = 'contact_records' and r.customer_address = ?")
    assert _query(later, calls, [held[1], household[1]]) == [(True, False)]
    assert _query(later, by_contact.format("is_due"), [erased[1]]) == [(True,)]


def test_retention_status_follows_an_anchor_that_changed(status_home) -> None:
    """A contact's last activity moves (the anchors update the row and stamp it changed): the next build finds it
    from the stamp alone, moves the contact's due date, and equals a full rebuild."""
    settings, _ = status_home
    con = duckdb.connect(str(settings.warehouse))
    try:
        contact = con.execute("select id from raw.crm_contacts where customer_status <> 'active' "
                              "and last_activity_date is not null order by id limit 1").fetchone()[0]
        con.execute("update raw.crm_contacts set last_activity_date = last_activity_date + interval 100 day, "
                    "contract_end_date = null where id = ?", [contact])
    finally:
        con.close()
    due = f"select due_at from {STATUS} where source_table = 'crm_contacts' and record_id = ?"  # noqa: S608
    before = _query(settings, due, [contact])
    compiled = _status_build(settings)
    assert STATUS_SINCE in compiled and STATUS_EVERY_ROW not in compiled
    assert _query(settings, due, [contact]) != before
    _status_equals_a_full_rebuild(settings)


def test_retention_status_follows_an_erasure_request_that_came_and_went(status_home) -> None:
    """An erasure request arrives (the person's records fall due at once), then is withdrawn from the DSR file: the
    build after each step equals a full rebuild, so the person's records are no longer erasure-due."""
    settings, _ = status_home
    con = duckdb.connect(str(settings.warehouse))
    try:
        contact = con.execute("select c.tenant_id, c.id from raw.crm_contacts c order by c.id desc limit 1 offset 3"
                              ).fetchone()
        con.execute(
            "insert into raw.dsr_requests (tenant_id, request_id, received_at, type, crm_contact_id, verified_at, "
            "_loaded_at) values (?, 'DSR-TEST-2', cast(? as timestamp) - interval 2 day, 'erasure', ?, "
            "cast(? as timestamp) - interval 1 day, now())",
            [contact[0], f"{settings.as_of:%Y-%m-%d}", contact[1], f"{settings.as_of:%Y-%m-%d}"])
    finally:
        con.close()
    erased = ("select bool_and(s.is_erasure_requested) from marts.fct_retention_status s "
              "join intermediate.int_subject_identities_resolved i on i.tenant_id = s.tenant_id "
              "and i.subject_key = s.subject_key and i.identity_kind = 'contact' where i.identity_value = ?")
    assert STATUS_SCOPED in _status_build(settings)
    assert _query(settings, erased, [contact[1]]) == [(True,)]
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("delete from raw.dsr_requests where request_id = 'DSR-TEST-2'")
    finally:
        con.close()
    assert STATUS_SCOPED in _status_build(settings)
    assert _query(settings, erased, [contact[1]]) == [(False,)]
    _status_equals_a_full_rebuild(settings)


DUE = "marts.retention_due"
DUE_SELECT = "+retention_due"
DUE_MERGED_ALL = "select merged_every_due_row from intermediate.int_retention_due_merged"


def test_retention_due_merges_what_the_status_recomputed_unless_a_status_build_went_unmerged(status_home) -> None:
    """The due list merges only the records the status build before it recomputed, and ends equal to a full rebuild
    with the records that fell due in; after a status build it did not merge (a `--select` of the status alone), it
    merges every due row, so the records that build changed are not missed."""
    settings, _ = status_home
    run_build(settings, select=DUE_SELECT)
    before = _fingerprint(settings, DUE)[0]
    later = settings.with_as_of(settings.as_of + timedelta(days=30))
    run_build(later, select=DUE_SELECT)
    assert _query(later, DUE_MERGED_ALL) == [(False,)], "the due list merged the status's recomputed records only"
    due = _fingerprint(later, DUE)
    assert due[0] > before, "records fell due in the 30 days"
    run_build(later, select=DUE_SELECT, full_refresh=True)
    assert _fingerprint(later, DUE) == due
    assert len(_bookkeeping_written(later, "retention_due")) == 1
    skipped = later.with_as_of(later.as_of + timedelta(days=30))
    run_build(skipped, select="fct_retention_status")  # records fall due; the due list is not built
    final = skipped.with_as_of(skipped.as_of + timedelta(days=30))
    run_build(final, select=DUE_SELECT)
    merged_all = _query(final, DUE_MERGED_ALL)
    due = _fingerprint(final, DUE)
    run_build(final, select=DUE_SELECT, full_refresh=True)
    assert _fingerprint(final, DUE) == due
    assert merged_all == [(True,)], "a status build went unmerged: every due row was merged"
