"""Roles are enforced in the data module, on the real snapshot: each role receives only what it may see."""

import json

import data
import pandas as pd
import pytest
import scenario
from dash_helpers import MARKETING_TENANTS, ROOT, snap

PERSONAL = {"address", "email", "phone", "mobile_phone", "first_name", "last_name", "subject_key",
            "record_id", "agent_username", "message_id", "consent_id"}


def viewer(role):
    return data.viewer_for(role, data.load_users(ROOT / "config" / "users.yml"))


def frames_for(v):
    """Every query the pages make, as the viewer gets it (denied ones skipped)."""
    calls = {
        "kpis": lambda: data.kpis(v)[1],
        "kpi_consent": lambda: data.kpis(v, names=["consent_coverage_pct"])[1],
        "trends": lambda: data.trends(v),
        "intake": lambda: data.intake_summary(v),
        "reasons": lambda: data.quarantine_reasons(v),
        "validation": lambda: data.validation_results(v),
        "runs": lambda: data.pipeline_runs(v),
        "failures": lambda: data.pipeline_failures(v),
        "retention": lambda: data.retention_summary(v),
        "aging": lambda: data.retention_aging(v),
        "held": lambda: data.retention_held(v),
        "purges": lambda: data.purge_history(v),
        "purge_breakdown": lambda: data.purge_breakdown(v),
        "consent": lambda: data.consent_coverage(v),
        "consent_reasons": lambda: data.consent_reasons(v),
        "withdrawals": lambda: data.withdrawals_by_month(v),
        "violations": lambda: data.violations_summary(v),
        "evidence": lambda: data.violation_evidence(v),
        "risk": lambda: data.risk_distribution(v),
        "signals": lambda: data.risk_signals(v),
        "segments": lambda: data.risk_segments(v),
        "evaluation": lambda: data.risk_evaluation(v),
        "audience": lambda: data.audience_counts(v),
        "exclusions": lambda: data.audience_exclusions(v),
        "dsr": lambda: data.dsr_summary(v),
        "queue": lambda: data.dsr_queue(v),
        "breaches": lambda: data.breaches(v),
        "training": lambda: data.training_gaps(v),
    }
    out = {}
    for name, call in calls.items():
        try:
            out[name] = call()
        except data.AccessDenied:
            continue
    return out


@pytest.mark.parametrize("role", ["manager", "marketing", "engineer"])
def test_non_dpo_roles_never_receive_personal_columns(real, role):
    got = frames_for(viewer(role))
    assert got, "every role sees something"
    for name, df in got.items():
        if isinstance(df, pd.DataFrame):
            assert not PERSONAL & set(df.columns), (role, name, list(df.columns))
            assert "@" not in df.to_csv(), (role, name)


@pytest.mark.parametrize(
    ("role", "allowed", "denied"),
    [
        ("manager", {"kpis", "intake", "retention", "consent", "audience", "dsr", "queue", "violations", "risk"},
         {"runs", "failures", "evidence"}),
        ("marketing", {"kpi_consent", "consent", "consent_reasons", "withdrawals", "audience", "exclusions"},
         {"kpis", "intake", "runs", "retention", "dsr", "queue", "purges", "violations", "risk", "evidence"}),
        ("engineer", {"intake", "reasons", "validation", "runs", "failures"},
         {"kpis", "retention", "consent", "audience", "dsr", "purges", "risk", "evidence"}),
        ("dpo", {"kpis", "intake", "runs", "retention", "consent", "audience", "dsr", "purges", "evidence"}, set()),
    ],
)
def test_each_role_gets_its_profile(real, role, allowed, denied):
    got = frames_for(viewer(role))
    assert allowed <= set(got)
    assert not denied & set(got)


def test_marketing_sees_only_its_tenants(real):
    v = viewer("marketing")
    assert v.tenants == tuple(MARKETING_TENANTS)
    assert set(data.audience_counts(v).tenant_id) <= set(MARKETING_TENANTS)
    assert data.tenants(v) == MARKETING_TENANTS
    # asking for another tenant explicitly still gives nothing of it
    assert data.audience_counts(v, ["cobalt-insurance"]).empty
    assert data.consent_coverage(v, ["cobalt-insurance"]).empty
    totals, per_tenant = data.kpis(v, ["cobalt-insurance"], names=["consent_coverage_pct"])
    assert per_tenant.empty and totals == {"consent_coverage_pct": 0.0}
    with pytest.raises(data.AccessDenied):
        data.audience_download(v, "cobalt-insurance", "Marketing", "email")


def test_audience_download_has_the_contract_columns_and_matches_lethe_audience(real):
    import subprocess
    import sys
    from pathlib import Path

    import real_home

    csv = data.audience_download(viewer("marketing"), "acme-energy", "marketing", "email").decode()
    lines = csv.splitlines()
    assert lines[0] == "subject_key,address"
    assert len(lines) - 1 == snap(
        real,
        "select count(*) from marts.audience_eligible where tenant_id = 'acme-energy' "
        "and purpose_name = 'Marketing' and channel = 'email'",
    )
    cli = subprocess.run(  # noqa: S603
        [str(Path(sys.executable).with_name("lethe")), "audience", "--tenant", "acme-energy", "--purpose",
         "Marketing", "--channel", "email"],
        env=real_home.env_for(real.home), capture_output=True, text=True, check=True,
    )
    assert cli.stdout == csv, "the download is byte for byte what lethe audience exports"
    with pytest.raises(data.AccessDenied):
        data.audience_download(viewer("manager"), "acme-energy", "Marketing", "email")


@pytest.mark.parametrize("role", ["manager", "marketing", "engineer"])
def test_only_the_dpo_may_look_up_a_subject_or_read_evidence(real, role, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "access_log_path", lambda: tmp_path / "dpo_access.jsonl")
    with pytest.raises(data.AccessDenied):
        data.lookup_subject(viewer(role), "acme-energy", "someone@example.com", "DSR-2")
    with pytest.raises(data.AccessDenied):
        data.violation_evidence(viewer(role))
    assert not data.access_log_path().exists()


def test_dpo_lookup_shows_restriction_and_is_logged(real, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "access_log_path", lambda: tmp_path / "dpo_access.jsonl")
    v = viewer("dpo")
    crm_id, key = snap(
        real,
        "select list_value(s.crm_contact_id, s.subject_key) from restricted.subjects s "
        "join marts.dim_subjects d using (tenant_id, subject_key) where d.is_restricted order by 1 limit 1",
    )
    tenant = snap(real, "select tenant_id from restricted.subjects where subject_key = $1", [key])
    with pytest.raises(data.AccessDenied):
        data.lookup_subject(v, tenant, crm_id, "  ")
    found = data.lookup_subject(v, tenant, crm_id, "DSR restriction check")
    assert list(found["identity"].subject_key) == [key]
    assert bool(found["marts.dim_subjects"].is_restricted.iloc[0])
    data.lookup_subject(v, tenant, "nobody@example.com", "checking")
    entries = [json.loads(line) for line in (tmp_path / "dpo_access.jsonl").read_text().splitlines()]
    assert [e["user"] for e in entries] == ["dpo", "dpo"]
    assert entries[0]["subject_keys"] == [key] and entries[0]["reason"] == "DSR restriction check"
    assert entries[1]["matched"] == 0 and entries[1]["prev"]
    assert "@" not in (tmp_path / "dpo_access.jsonl").read_text().replace("nobody@example.com", "")


@pytest.mark.parametrize("reason", ["request from Ann.Lee@example.com", "caller on +44 20 7946 0123",
                                    "rang us from 020 7946 0123"])
def test_a_reason_holding_an_email_or_a_phone_is_refused_and_nothing_is_logged(real, reason, tmp_path, monkeypatch):
    """The access log keeps a lookup's reason after the person looked up is erased: an address typed into it would
    outlive the erasure under LETHE_HOME."""
    monkeypatch.setattr(data, "access_log_path", lambda: tmp_path / "dpo_access.jsonl")
    with pytest.raises(data.AccessDenied, match="give the request id instead"):
        data.lookup_subject(viewer("dpo"), "acme-energy", "someone@example.com", reason)
    assert not data.access_log_path().exists()
    # request ids, dates and ticket numbers are not phones
    ok = "DSR-ACM-0000010 erasure of 2025-07-06, ticket 884213"
    data.lookup_subject(viewer("dpo"), "acme-energy", "someone@example.com", ok)
    assert json.loads(data.access_log_path().read_text())["reason"] == ok


def test_forged_viewer_objects_are_refused(real):
    class Fake:
        role = "dpo"

    with pytest.raises(data.AccessDenied):
        data.intake_summary(Fake())
    with pytest.raises(data.AccessDenied):
        data.kpis(Fake())


def _months_before_as_of(real):
    """The snapshot's as-of, and the first days of the 23 months before its month (the charts' months)."""
    as_of = pd.Timestamp(snap(real, "select as_of::timestamp from main.snapshot_info"))
    return as_of, list(pd.date_range(end=as_of - pd.DateOffset(months=1), periods=23, freq="MS"))


def test_the_trends_give_every_month_a_count_zero_when_nothing_happened(real):
    """A month without a withdrawal is 0 on the chart, not skipped: the line was drawn straight from the month
    before to the month after, as if there had been withdrawals in between."""
    trend = data.trends(viewer("dpo"))
    as_of, months = _months_before_as_of(real)
    for series in ("violations", "requests received", "consents withdrawn"):
        got = trend[trend.series == series]
        assert list(got.month) == months, series
        since = f"date_trunc('month', timestamp '{months[0]}')"
        assert got["count"].sum() == snap(real, {
            "violations": f"select count(*) from marts.fct_violations where occurred_at >= {since}",
            "requests received": f"select count(*) from marts.fct_dsr_requests where received_at >= {since}",
            "consents withdrawn": "select count(*) from marts.fct_consent_status where consent_status = 'withdrawn' "
                                  f"and status_since >= {since}",
        }[series]), series
    assert (trend[trend.series == "consents withdrawn"]["count"] == 0).any(), "the test home has months without one"
    purged = trend[trend.series == "records purged"]
    assert list(purged.month) == [*months, as_of] and purged["count"].sum() == 0, "nothing purged yet"


def test_withdrawals_by_month_give_every_month_of_every_channel(real):
    """The withdrawals chart has a place for every month, 0 where nobody withdrew: on a chart of labelled months
    one left out would close up the axis, and the months around it would read as adjacent."""
    withdrawals = data.withdrawals_by_month(viewer("dpo"))
    _, months = _months_before_as_of(real)
    channels = sorted(withdrawals.channel.unique())
    assert len(channels) > 1, "the test home has withdrawals on several channels"
    for channel in channels:
        assert list(withdrawals[withdrawals.channel == channel].month) == months, channel
    assert (withdrawals.withdrawals == 0).any()
    assert withdrawals.withdrawals.sum() == snap(
        real, "select count(*) from marts.fct_consent_status where consent_status = 'withdrawn' "
              f"and status_since >= timestamp '{months[0]}'")


def test_scenario_purge_history_counts_the_audited_plan(published):
    v = viewer("dpo")
    history = data.purge_history(v)
    assert list(history.records_erased) == [12] and list(history.status) == ["completed"]
    totals, per_tenant = data.kpis(v)
    assert totals["purged_last_run"] == 12
    assert dict(zip(per_tenant.tenant_id, per_tenant.purged_last_run, strict=True)) == {
        "acme-energy": 9, "cobalt-insurance": 3}
    assert data.purge_history(v, ["acme-energy"]).records_erased.iloc[0] == 9
    assert scenario.subject_key("003C") not in data.purge_breakdown(v).to_csv(), "erased subjects' keys are not published"


def test_a_refused_purge_is_listed_with_what_it_planned_and_nothing_erased(published):
    """The guards refused a run: the history lists it beside the records it planned, with none erased (a
    manager read 2,366 records against a refused run as 2,366 erased)."""
    from lethe import audit
    from lethe.publish import publish

    counts = [{"tenant": "acme-energy", "data_category": "campaign.event", "reason": "retention_expired",
               "action": "delete", "record_count": 5}]
    audit.append(published, "purge.planned", run_id="purge-2", kind="retention",
                 as_of="2026-02-28T00:00:00+00:00", counts=counts, records_total=5, subject_keys=[])
    audit.append(published, "purge.refused", run_id="purge-2", reason="purge refused: over its purge_max_share")
    publish(published)
    history = data.purge_history(viewer("dpo")).set_index("run_id")
    columns = ["status", "records_planned", "records_erased"]
    assert history.loc["purge-2", columns].tolist() == ["refused", 5, 0]
    assert pd.notna(history.loc["purge-2", "finished_at"]), "a refused run ended when it was refused"
    assert history.loc["purge-1", columns].tolist() == ["completed", 12, 12]


def test_a_user_of_one_tenant_sees_no_other_clients_erasures_nor_why_a_run_was_refused(published, tmp_path):
    """A refused run's reason names the tenant, table and server path that tripped a guard, and an erasure run is
    one person of one client: a manager of acme-energy sees the retention runs, acme's erasures, and that a run was
    refused, not another client's erasure nor the reason."""
    from lethe import audit
    from lethe.publish import publish

    def planned(run_id, kind, tenant, n):
        counts = [{"tenant": tenant, "data_category": "crm.contact", "reason": "erasure_request" if kind == "erasure"
                   else "retention_expired", "action": "delete", "record_count": n}]
        audit.append(published, "purge.planned", run_id=run_id, kind=kind, as_of="2026-02-28T00:00:00+00:00",
                     counts=counts, records_total=n, subject_keys=[])

    planned("purge-2", "retention", "cobalt-insurance", 40)
    audit.append(published, "purge.refused", run_id="purge-2",
                 reason="purge refused: cobalt-insurance raw.contact_records 40% > 25% (/srv/lethe/tenants.yml)")
    planned("erasure-3", "erasure", "cobalt-insurance", 7)
    audit.append(published, "purge.completed", run_id="erasure-3", records_total=7)
    planned("erasure-4", "erasure", "acme-energy", 2)
    audit.append(published, "purge.completed", run_id="erasure-4", records_total=2)
    publish(published)

    everything = data.purge_history(viewer("dpo")).set_index("run_id")
    assert set(everything.index) == {"purge-1", "purge-2", "erasure-3", "erasure-4"}
    assert "cobalt-insurance raw.contact_records" in everything.loc["purge-2", "reason"]

    acme = data.viewer_for("manager", data.load_users(write_users(tmp_path, manager=["acme-energy"])))
    mine = data.purge_history(acme).set_index("run_id")
    assert set(mine.index) == {"purge-1", "purge-2", "erasure-4"}, "not cobalt's erasure"
    assert mine.loc["purge-2", ["status", "records_planned"]].tolist() == ["refused", 0]
    assert mine.loc["erasure-4", "records_erased"] == 2 and mine.loc["purge-1", "records_erased"] == 9
    assert "cobalt" not in mine.to_csv() and "/srv" not in mine.to_csv()


def test_a_user_of_one_tenant_gets_the_models_quality_not_the_other_clients_numbers(real, tmp_path):
    from ui import evaluation_caption

    full = data.risk_evaluation(viewer("dpo"))
    acme = data.viewer_for("manager", data.load_users(write_users(tmp_path, manager=["acme-energy"])))
    scoped = data.risk_evaluation(acme)
    assert scoped.model.tolist() == full.model.tolist(), "the same model, the same quality"
    assert full.n_train.notna().all() and scoped.n_train.isna().all() and scoped.n_test.isna().all()
    assert f"{int(full.n_train.iloc[0]):,}" in evaluation_caption(full)
    caption = evaluation_caption(scoped)
    assert caption.startswith("Trained on weekly snapshots of every client's subjects up to ")
    assert f"{int(full.n_train.iloc[0]):,}" not in caption and "None" not in caption and "nan" not in caption


def test_the_request_queue_says_what_lethe_did_with_each_open_request(real):
    """The manager's queue names, per request not done, what Lethe did or why it could not act."""
    queue = data.dsr_queue(viewer("manager"))
    assert queue is not None and not queue.empty, "the snapshot holds open requests"
    assert "lethe_outcome" in queue.columns
    assert queue["extended"].dtype == bool  # Art. 12(3): which due dates an extension moved
    shown = set(queue["lethe_outcome"].dropna())
    assert shown and shown <= {"not verified", "pending", "no_match", "ambiguous", "held", "recorded", "applied", "exported",
                               "erased"}, shown


def test_lookup_by_an_email_never_matches_someone_by_the_digits_in_it(real, tmp_path, monkeypatch):
    """An email holding a phone's last digits is not that phone; a phone in any human format is matched exactly."""
    import phonenumbers

    monkeypatch.setattr(data, "access_log_path", lambda: tmp_path / "dpo_access.jsonl")
    v = viewer("dpo")
    tenant, key, phone = snap(
        real,
        "select list_value(tenant_id, subject_key, mobile_phone) from restricted.subjects "
        "where mobile_phone like '+44%' order by crm_contact_id limit 1",
    )
    national = phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.NATIONAL)
    for term in (f"u{phone[-9:]}@uni.example.ac.uk", f"+1 555 {phone[-7:]}", phone[-7:]):
        assert data.lookup_subject(v, tenant, term, "DSR-9")["identity"].empty, term
    for term in (phone, national, f"+44 ({national[1:]})"):
        assert key in set(data.lookup_subject(v, tenant, term, "DSR-9")["identity"].subject_key), term


def test_lookup_by_a_duplicate_contact_finds_the_person_the_marts_know(tmp_path, monkeypatch):
    """Alice's old contact (old email, own Contact Id) resolves to her subject key, which the marts carry."""
    from lethe.publish import publish

    settings = scenario.build_warehouse(tmp_path / "home")
    old_email = scenario.add_duplicate_contact(settings)
    publish(settings)
    from dash_helpers import use_home

    use_home(monkeypatch, settings.home, scenario.KEY)
    monkeypatch.setattr(data, "access_log_path", lambda: tmp_path / "dpo_access.jsonl")
    for term in (old_email, "003D"):
        found = data.lookup_subject(viewer("dpo"), "acme-energy", term, "DSR-3")
        assert list(found["identity"].subject_key) == [scenario.subject_key("003A")], term
        assert "restricted.audience_eligible" in found, "her audience rows are found by the key"


def test_lookup_by_an_old_address_finds_the_person_whose_contact_held_it(tmp_path, monkeypatch):
    """Alice's contact held alice.before@example.net and an old phone before the CRM export gave it new ones (ingest
    keeps them in lethe_meta.crm_contact_previous_addresses): the DPO finds her by either, as `lethe dsar` does,
    and sees the old addresses. An old address that someone holds now is that holder's, not hers."""
    import duckdb
    from dash_helpers import use_home

    from lethe.publish import publish

    settings = scenario.build_warehouse(tmp_path / "home")
    con = duckdb.connect(str(settings.warehouse))
    con.execute("create schema if not exists lethe_meta")
    con.execute("create table lethe_meta.crm_contact_previous_addresses (tenant_id varchar, contact_id varchar, "
                "kind varchar, address varchar, superseded_at timestamp, batch_id varchar)")
    con.execute("insert into lethe_meta.crm_contact_previous_addresses values "
                "('acme-energy', '003A', 'email', 'alice.before@example.net', timestamp '2026-01-05', 'b0'), "
                "('acme-energy', '003A', 'phone', '+447700900999', timestamp '2026-01-05', 'b0'), "
                "('acme-energy', '003A', 'email', 'bob.baker@example.com', timestamp '2025-06-01', 'b0')")
    con.close()
    publish(settings)
    use_home(monkeypatch, settings.home, scenario.KEY)
    monkeypatch.setattr(data, "access_log_path", lambda: tmp_path / "dpo_access.jsonl")
    dpo = viewer("dpo")

    for term in ("Alice.Before@example.net", "07700 900999", "+44 7700 900999"):
        found = data.lookup_subject(dpo, "acme-energy", term, "DSR-11")
        assert list(found["identity"].crm_contact_id) == ["003A"], term
        old = found["restricted.subject_previous_addresses"]
        assert sorted(old.address) == ["+447700900999", "alice.before@example.net"], term
    # Bob holds the address now: it is his, and Alice's old claim on it is not shown as hers
    found = data.lookup_subject(dpo, "acme-energy", "bob.baker@example.com", "DSR-12")
    assert list(found["identity"].crm_contact_id) == ["003B"]
    assert "restricted.subject_previous_addresses" not in found
    # the old address is scoped to its tenant
    assert data.lookup_subject(dpo, "cobalt-insurance", "alice.before@example.net", "DSR-13")["identity"].empty


def write_users(tmp_path, **tenants):
    """The demo users file with `tenants:` set per user (a value of ... leaves the key out)."""
    import yaml

    config = yaml.safe_load((ROOT / "config" / "users.yml").read_text())
    for name, value in tenants.items():
        config["credentials"]["usernames"][name].pop("tenants", None)
        if value is not ...:
            config["credentials"]["usernames"][name]["tenants"] = value
    path = tmp_path / "users.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_an_empty_tenant_list_grants_no_tenant(real, tmp_path):
    path = write_users(tmp_path, marketing=[])
    v = data.viewer_for("marketing", data.load_users(path))
    assert v.tenants == ()
    assert data.tenants(v) == []
    assert data.audience_counts(v).empty
    assert data.audience_counts(v, ["cobalt-insurance"]).empty
    assert data.kpis(v, names=["consent_coverage_pct"])[0] == {"consent_coverage_pct": 0.0}
    with pytest.raises(data.AccessDenied):
        data.audience_download(v, "cobalt-insurance", "Marketing", "email")
    # only leaving the key out means every tenant
    everyone = data.viewer_for("marketing", data.load_users(write_users(tmp_path, marketing=...)))
    assert everyone.tenants is None


@pytest.mark.parametrize("value", ["acme-energy", None, {"acme-energy": True}, [1]])
def test_tenants_that_are_not_a_list_are_refused_in_one_line(tmp_path, value):
    from lethe.errors import ConfigError

    path = write_users(tmp_path, marketing=value)
    with pytest.raises(ConfigError) as err:
        data.load_users(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "credentials.usernames.marketing.tenants" in message


def test_audience_download_is_exactly_lethe_audience_when_two_purposes_share_a_name(tmp_path, monkeypatch):
    """Two DataUsePurposes named Newsletter: Alice is in both, and still one row, as `lethe audience` writes it."""
    import duckdb
    from dash_helpers import use_home

    from lethe.audience import export_audience
    from lethe.publish import publish

    settings = scenario.build_warehouse(tmp_path / "home")
    con = duckdb.connect(str(settings.warehouse))
    con.execute(
        "insert into marts.audience_eligible select tenant_id, 'P9', 'newsletter', channel, subject_key, address, "
        "'C9', consent_captured_at, as_of from marts.audience_eligible where purpose_id = 'P1'"
    )
    con.execute("create table marts.audience_exclusions (tenant_id varchar, purpose_name varchar, channel varchar, "
                "exclusion_reason varchar, subject_count bigint)")
    con.close()
    publish(settings)
    settings.warehouse.unlink()  # `lethe audience` reads the published snapshot, as the dashboard does
    use_home(monkeypatch, settings.home, scenario.KEY)
    out = tmp_path / "audience.csv"
    export_audience(settings, "acme-energy", "Newsletter", "email", out)
    csv = data.audience_download(viewer("dpo"), "acme-energy", "NEWSLETTER", "email")
    assert csv == out.read_bytes()
    assert csv.decode().splitlines() == ["subject_key,address", f"{scenario.subject_key('003A')},alice.archer@example.com"]


def test_coming_due_within_30_days_counts_only_records_not_due_yet(real):
    held = data.retention_held(viewer("manager"))
    as_of = "(select as_of::timestamp from snapshot_info)"
    assert snap(real, f"select count(*) from marts.fct_retention_status where is_held and due_at <= {as_of}") > 0, (
        "the snapshot holds records under legal hold past their due date")
    assert held.due_within_30_days.sum() == snap(
        real,
        f"select count(*) from marts.fct_retention_status where not is_held and not is_restricted "
        f"and due_at > {as_of} and due_at <= {as_of} + interval 30 day",
    )
    # GDPR Art. 18: a restricted subject's records past their due date are kept, and counted apart
    kept = snap(real, f"select count(*) from marts.fct_retention_status where is_restricted and not is_held "
                      f"and not is_due and due_at <= {as_of}")
    assert kept > 0, "the generated home has restricted subjects with records past their retention"
    assert held.kept_restricted.sum() == kept
    assert held.due.sum() == snap(real, "select count(*) from marts.fct_retention_status where is_due and not is_held")


def test_a_failure_after_the_last_publish_shows_on_the_engineer_page(published):
    """Only the enforce DAG publishes, and a failed ingest or transform run stops the chain before it: before,
    the engineer page kept showing the snapshot's copy ("Failed tasks 0") exactly while the pipeline was broken.
    The page reads the callbacks' live log; the snapshot's copy when the log cannot be read."""
    from types import SimpleNamespace

    from lethe.errors import PolicyError
    from lethe.orchestration import callbacks

    v = viewer("engineer")
    assert list(data.pipeline_failures(v).task_id) == ["purge"]  # what the snapshot holds too
    ti = SimpleNamespace(dag_id="lethe_ingest", task_id="email_events.load", run_id="scheduled__2", try_number=1,
                         map_index=0)
    callbacks.record_task_failure({"ti": ti, "exception": PolicyError("tenants.yml: unknown category")})
    run = SimpleNamespace(dag_id="lethe_ingest", run_id="scheduled__2", run_type="scheduled",
                          data_interval_end=None, start_date=None, end_date=None)
    callbacks.record_run_failure({"dag_run": run, "reason": "task_failure"})

    failures = data.pipeline_failures(v)
    assert failures.iloc[0].task_id == "email_events.load", failures
    assert "unknown category" in failures.iloc[0].reason
    assert set(data.pipeline_runs(v).state) == {"success", "failed"}
    # the snapshot still holds only what was published
    assert snap(published, "select count(*) from pipeline.failures") == 1
    # a log this process cannot read: the snapshot's copy
    published.runs_dir.joinpath("failures.jsonl").unlink()
    published.runs_dir.joinpath("failures.jsonl").mkdir()
    assert list(data.pipeline_failures(v).task_id) == ["purge"]


def test_the_score_distribution_has_every_band_zero_where_nobody_scores_in_it(real, tmp_path):
    """A chart of only the bands someone is in hides where nobody is: every band is there, in order."""
    bands = [name for _, name in data._BANDS]
    everyone = data.risk_distribution(viewer("dpo"))
    assert list(everyone.band) == bands and list(everyone.band_order) == list(range(len(bands)))
    assert everyone.subjects.sum() == snap(real, "select count(*) from marts.withdrawal_risk_scores")
    nobody = data.viewer_for("manager", data.load_users(write_users(tmp_path, manager=[])))
    shown = data.risk_distribution(nobody)
    assert list(shown.band) == bands and shown.subjects.tolist() == [0] * len(bands)
