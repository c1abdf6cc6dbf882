"""The tenant policy file: defaults applied, invalid files refused naming the offending key."""

from pathlib import Path

import pytest

from lethe.errors import PolicyError, UnknownTenantError
from lethe.policy import DEFAULT_RETENTION_DAYS, load_policy
from lethe.settings import DEFAULT_TENANTS_FILE


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tenants.yml"
    path.write_text(text)
    return path


def test_example_policy_file_loads_with_distinct_retention_per_tenant():
    policy = load_policy(DEFAULT_TENANTS_FILE)
    assert set(policy.tenants) == {"acme-energy", "borealis-telecom", "cobalt-insurance"}
    recordings = {t.retention["interaction.recording"] for t in policy.tenants.values()}
    assert len(recordings) == 3
    assert policy.tenant("cobalt-insurance").purge_max_share == 0.4


def test_category_left_out_takes_the_contract_default(tmp_path):
    policy = load_policy(write(tmp_path, "tenants:\n  a:\n    controller: A Ltd\n    retention:\n      interaction.recording: 30\n"))
    tenant = policy.tenant("a")
    assert tenant.retention["interaction.recording"] == 30
    assert tenant.retention["crm.contact"] == DEFAULT_RETENTION_DAYS["crm.contact"] == 1095
    assert tenant.dsr_sla_days == 30 and tenant.consent_refresh_days == 730


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("  a:\n    controller: A\n    retention:\n      interaction.video: 5\n", "tenants.a.retention.interaction.video"),
        ("  a:\n    controller: A\n    retention:\n      campaign.event: -1\n", "tenants.a.retention.campaign.event"),
        ("  a:\n    controller: A\n    retention:\n      campaign.event: 1.5\n", "tenants.a.retention.campaign.event"),
        ("  a:\n    retention:\n      campaign.event: 10\n", "tenants.a.controller"),
        ("  a:\n    controller: A\n    dsr_sla_days: soon\n", "tenants.a.dsr_sla_days"),
        ("  a:\n    controller: A\n    colour: blue\n", "tenants.a.colour"),
        ("  _centre:\n    controller: A\n", "tenants._centre"),
    ],
)
def test_invalid_policy_is_refused_naming_the_key(tmp_path, body, named):
    path = write(tmp_path, "tenants:\n" + body)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    message = str(err.value)
    assert named in message and str(path) in message
    assert "\n" not in message


def test_missing_and_unparseable_files_are_named(tmp_path):
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.yml")
    with pytest.raises(PolicyError, match="not valid YAML at line"):
        load_policy(write(tmp_path, "tenants:\n  a: [unclosed\n"))


def test_unknown_tenant_lists_the_known_ones(tmp_path):
    policy = load_policy(write(tmp_path, "tenants:\n  a:\n    controller: A\n"))
    with pytest.raises(UnknownTenantError, match="unknown tenant 'zz'.*: a"):
        policy.tenant("zz")


def test_policy_hash_changes_when_the_file_changes(tmp_path):
    path = write(tmp_path, "tenants:\n  a:\n    controller: A\n")
    first = load_policy(path).sha256
    path.write_text("tenants:\n  a:\n    controller: B\n")
    assert load_policy(path).sha256 != first
