"""Roles are enforced in the data module: each role receives only what it may see."""

import json

import data
import pytest
import scenario
from conftest import ROOT

PERSONAL = {
    "address",
    "email",
    "phone",
    "mobile_phone",
    "first_name",
    "last_name",
    "subject_key",
    "record_id",
}


def viewer(role):
    return data.viewer_for(role, data.load_users(ROOT / "config" / "users.yml"))


def frames_for(v):
    """Every aggregate query a page makes, as the viewer would get it (denied ones skipped)."""
    calls = {
        "intake": lambda: data.intake_summary(v),
        "reasons": lambda: data.quarantine_reasons(v),
        "runs": lambda: data.pipeline_runs(v),
        "retention": lambda: data.retention_summary(v),
        "aging": lambda: data.retention_aging(v),
        "purges": lambda: data.purge_history(v),
        "consent": lambda: data.rollup(
            v, "consent", "consent", ["tenant_id", "purpose", "channel", "status"]
        ),
        "audience": lambda: data.rollup(
            v, "audience_counts", "audience", ["tenant_id", "purpose", "channel"]
        ),
        "dsr": lambda: data.rollup(v, "compliance", "dsr", ["tenant_id", "type", "status"]),
    }
    out = {}
    for name, call in calls.items():
        try:
            out[name] = call()
        except data.AccessDenied:
            continue
    return out


@pytest.mark.parametrize("role", ["manager", "marketing", "engineer"])
def test_non_dpo_roles_never_receive_personal_columns(published, role):
    got = frames_for(viewer(role))
    assert got, "every role sees something"
    for name, df in got.items():
        if df is not None:
            assert not PERSONAL & set(df.columns), (role, name, list(df.columns))


@pytest.mark.parametrize(
    ("role", "allowed", "denied"),
    [
        ("manager", {"intake", "retention", "consent", "audience", "dsr"}, {"runs"}),
        ("marketing", {"consent", "audience"}, {"intake", "runs", "retention", "dsr", "purges"}),
        ("engineer", {"intake", "reasons", "runs"}, {"retention", "consent", "audience", "dsr", "purges"}),
        ("dpo", {"intake", "runs", "retention", "consent", "audience", "dsr", "purges"}, set()),
    ],
)
def test_each_role_gets_its_profile(published, role, allowed, denied):
    got = frames_for(viewer(role))
    assert allowed <= set(got)
    assert not denied & set(got)


def test_marketing_sees_only_its_tenants(published):
    v = viewer("marketing")
    assert v.tenants == ("acme-energy", "borealis-telecom")
    audience = data.rollup(v, "audience_counts", "audience", ["tenant_id"])
    assert set(audience.tenant_id) == {"acme-energy"}
    # asking for another tenant explicitly still gives nothing of it
    assert data.rollup(v, "consent", "consent", ["tenant_id"], ["cobalt-insurance"]).empty
    with pytest.raises(data.AccessDenied):
        data.audience_download(v, "cobalt-insurance", "Offers", "email")


def test_audience_download_has_the_contract_columns(published):
    csv = data.audience_download(viewer("marketing"), "acme-energy", "Newsletter", "email").decode()
    assert csv.splitlines() == [
        "subject_key,address",
        f"{scenario.subject_key('003A')},alice.archer@example.com",
    ]
    with pytest.raises(data.AccessDenied):
        data.audience_download(viewer("manager"), "acme-energy", "Newsletter", "email")


@pytest.mark.parametrize("role", ["manager", "marketing", "engineer"])
def test_only_the_dpo_may_look_up_a_subject_or_read_rows(published, role):
    with pytest.raises(data.AccessDenied):
        data.lookup_subject(viewer(role), "acme-energy", "alice.archer@example.com", "DSR-2")
    with pytest.raises(data.AccessDenied):
        data.mart_rows(viewer(role), "dsr")
    assert not data.access_log_path().exists()


def test_dpo_lookup_is_logged_with_who_when_which_and_why(published):
    v = viewer("dpo")
    with pytest.raises(data.AccessDenied):
        data.lookup_subject(v, "acme-energy", "alice.archer@example.com", "  ")
    found = data.lookup_subject(v, "acme-energy", "07700 900001", "DSR-2 access request")
    assert list(found["identity"].first_name) == ["Alice"]
    assert "marts.dsr_requests" in found and "restricted.audience" in found
    data.lookup_subject(v, "acme-energy", "nobody@example.com", "checking")
    entries = [json.loads(line) for line in data.access_log_path().read_text().splitlines()]
    assert [e["user"] for e in entries] == ["dpo", "dpo"]
    assert (
        entries[0]["subject_keys"] == [scenario.subject_key("003A")]
        and entries[0]["reason"] == "DSR-2 access request"
    )
    assert entries[1]["matched"] == 0 and entries[1]["prev"]
    assert "alice" not in data.access_log_path().read_text().lower(), (
        "the access log holds keys, not addresses"
    )


def test_forged_viewer_objects_are_refused(published):
    class Fake:
        role = "dpo"

    with pytest.raises(data.AccessDenied):
        data.intake_summary(Fake())
