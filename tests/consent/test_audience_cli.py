"""`lethe audience` through the real CLI on a warehouse built from the named consent scenario."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

EMAIL_AUDIENCE = {"alice@example.com", "judy@example.com", "niaj@example.com", "trent@example.com"}


def _rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.splitlines()]


@pytest.fixture(scope="module")
def email_audience(consent_scenario) -> str:
    """stdout of one `lethe audience` run for the marketing email audience (purpose given in upper case)."""
    result = consent_scenario.lethe("audience", "--tenant", "acme-energy", "--purpose", "MARKETING", "--channel", "email")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_email_audience_has_the_exact_header_and_only_eligible_subjects(consent_scenario, email_audience):
    header, *rows = _rows(email_audience)
    assert header == ["subject_key", "address"]
    assert {address for _, address in rows} == EMAIL_AUDIENCE
    # the key is the pseudonymous subject key, stable and equal to lethe.keys.keyed_hash
    assert ["c-alice" for key, address in rows if address == "alice@example.com"] == [
        consent_scenario.who()[key] for key, address in rows if address == "alice@example.com"
    ]
    assert [key for key, _ in rows] == sorted(key for key, _ in rows)


@pytest.mark.parametrize(
    ("who", "why"),
    [
        ("bob@example.com", "unsubscribed"),
        ("carol@example.com", "pre-ticked box"),
        ("walter@example.com", "implied consent"),
        ("frank@example.com", "no notice version"),
        ("grace@example.com", "EffectiveTo passed"),
        ("heidi@example.com", "older than consent_refresh_days"),
        ("mallory@example.com", "restricted processing"),
        ("olivia@example.com", "asked to be forgotten"),
        ("peggy@example.com", "hard bounce"),
        ("yves@example.com", "HasOptedOutOfEmail"),
        ("not-an-email", "invalid address"),
        ("shared@example.com", "the address two contacts share unsubscribed"),
    ],
)
def test_excluded_people_are_not_in_the_email_audience(email_audience, who, why):
    assert who not in email_audience, why


def test_sms_audience_written_to_a_file_uses_e164_phones(consent_scenario, tmp_path):
    out = tmp_path / "exports" / "sms.csv"
    result = consent_scenario.lethe(
        "audience", "--tenant", "acme-energy", "--purpose", "Marketing", "--channel", "sms", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "wrote 2 subjects" in result.stderr
    assert out.stat().st_mode & 0o077 == 0, "addresses are personal data: the file is the owner's alone"
    assert [p.name for p in out.parent.iterdir()] == ["sms.csv"], "no temporary file is left next to it"
    header, *rows = _rows(out.read_text())
    assert header == ["subject_key", "address"]
    # dave's verbal consent has its recording; erin's recording was purged; ivan is DoNotCall (phone only)
    assert {consent_scenario.who()[key]: address for key, address in rows} == {
        "c-dave": "+447700900001",
        "c-ivan": "+447700900003",
    }


def test_phone_audience_leaves_out_do_not_call(consent_scenario):
    result = consent_scenario.lethe("audience", "--tenant", "acme-energy", "--purpose", "marketing", "--channel", "phone")
    assert result.returncode == 0, result.stderr
    assert "+447700900003" not in result.stdout
    assert "+447700900001" in result.stdout


def test_an_audience_nobody_consented_to_is_just_the_header(consent_scenario):
    result = consent_scenario.lethe(
        "audience", "--tenant", "acme-energy", "--purpose", "service updates", "--channel", "email"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "subject_key,address\n"


def test_unknown_tenant_exits_non_zero_with_one_line(consent_scenario):
    result = consent_scenario.lethe("audience", "--tenant", "umbrella-corp", "--purpose", "marketing", "--channel", "email")
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown tenant 'umbrella-corp'" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_purpose_names_the_known_purposes(consent_scenario):
    result = consent_scenario.lethe("audience", "--tenant", "acme-energy", "--purpose", "lottery", "--channel", "email")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "'lottery'" in lines[0]
    assert "Marketing" in lines[0] and "Service updates" in lines[0]


def test_out_naming_a_folder_is_refused_in_one_line(consent_scenario, tmp_path):
    result = consent_scenario.lethe(
        "audience", "--tenant", "acme-energy", "--purpose", "Marketing", "--channel", "email", "--out", str(tmp_path)
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"lethe: {tmp_path}: is a folder; --out names the file to write"
    assert list(tmp_path.iterdir()) == [] and not list(tmp_path.parent.glob(f"*{tmp_path.name}.*"))


def test_out_under_a_file_is_refused_in_one_line_naming_it(consent_scenario, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    result = consent_scenario.lethe("audience", "--tenant", "acme-energy", "--purpose", "Marketing", "--channel",
                                    "email", "--out", str(blocker / "audience.csv"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"lethe: {blocker}: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_while_the_pipeline_holds_the_warehouse_the_audience_comes_from_the_snapshot(consent_scenario):
    import duckdb

    args = ("audience", "--tenant", "acme-energy", "--purpose", "Marketing", "--channel", "email")
    published = consent_scenario.lethe("publish")
    assert published.returncode == 0, published.stderr
    want = consent_scenario.lethe(*args)
    holder = duckdb.connect(str(consent_scenario.home / "warehouse.duckdb"))  # as a running pipeline would
    try:
        got = consent_scenario.lethe(*args)
    finally:
        holder.close()
    assert got.returncode == 0, got.stderr
    assert got.stdout == want.stdout and len(_rows(got.stdout)) == len(EMAIL_AUDIENCE) + 1


def test_an_audience_asked_for_at_another_as_of_than_it_was_built_at_is_refused_not_answered(consent_scenario):
    result = consent_scenario.lethe("audience", "--tenant", "acme-energy", "--purpose", "Marketing", "--channel",
                                    "email", "--as-of", "2025-06-15T00:00:00Z")
    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "judged at 2026-06-01T00:00:00Z, not at the as-of asked for (2025-06-15T00:00:00Z)" in line
