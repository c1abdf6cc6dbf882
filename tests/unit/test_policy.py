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
        # a typo of a few digits: the dates it gives leave the timestamp range (the build failed deep in dbt), or
        # the number no 64-bit integer holds (a traceback)
        ("  a:\n    controller: A\n    retention:\n      crm.contact: 1000000000\n", "tenants.a.retention.crm.contact"),
        ("  a:\n    controller: A\n    consent_refresh_days: 100000000000000000000\n", "tenants.a.consent_refresh_days"),
        ("  a:\n    controller: A\n    dsr_sla_days: 36526\n", "from 0 to 36525"),
        ("  a:\n    controller: A\n    colour: blue\n", "tenants.a.colour"),
        ("  _centre:\n    controller: A\n", "tenants._centre"),
        # YAML keeps the last of a key given twice: a category's second retention (10 years instead of 90 days),
        # a tenant's second block (its first, with its controller and retention, gone) would pass unnoticed
        ("  a:\n    controller: A\n    retention:\n      interaction.recording: 90\n"
         "      interaction.recording: 3650\n", "line 6: 'interaction.recording' is given twice"),
        ("  a:\n    controller: A\n  b:\n    controller: B\n  a:\n    controller: C\n", "line 6: 'a' is given twice"),
    ],
)
def test_invalid_policy_is_refused_naming_the_key(tmp_path, body, named):
    path = write(tmp_path, "tenants:\n" + body)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    message = str(err.value)
    assert named in message and str(path) in message
    assert "\n" not in message


def test_a_hundred_years_is_the_longest_period_accepted(tmp_path):
    policy = load_policy(write(tmp_path, "tenants:\n  a:\n    controller: A\n    dsr_sla_days: 36525\n"
                                         "    retention:\n      crm.contact: 36525\n"))
    assert policy.tenant("a").retention["crm.contact"] == 36525 == policy.tenant("a").dsr_sla_days


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


def test_a_build_refuses_a_policy_file_that_leaves_out_a_tenant_with_data(tmp_path):
    """Rows of a tenant the file no longer names would have no retention (never due): the build says so in one
    line naming the file and the tenant, instead of failing a not-null test deep in dbt."""
    import duckdb

    from lethe.build import write_policy
    from lethe.errors import ConfigError
    from lethe.settings import load_settings

    policy = write(tmp_path, "tenants:\n  acme-energy:\n    controller: ACME Energy Ltd\n")
    settings = load_settings({"LETHE_HOME": str(tmp_path / "home"), "LETHE_SECRET_KEY": "k",
                              "LETHE_TENANTS": str(policy)})
    write_policy(settings)  # an empty warehouse: nothing to say
    con = duckdb.connect(str(settings.warehouse))
    con.execute("create table raw.email_events as select * from (values ('acme-energy'), ('_centre'), "
                "('delta-utilities')) t(tenant_id)")
    con.execute("create table raw.agents as select '_centre' as tenant_id")
    con.close()
    with pytest.raises(ConfigError, match=f"^{policy}: the warehouse holds data of tenant delta-utilities, which"):
        write_policy(settings)
    policy.write_text(policy.read_text() + "  delta-utilities:\n    controller: Delta plc\n")
    assert set(write_policy(settings).tenants) == {"acme-energy", "delta-utilities"}
