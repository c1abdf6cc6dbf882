"""`lethe dsar restrict|object|rectify`: a request recorded on the command line is honoured by the next build."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "purge"))

from purge_scenario import FILLERS, TENANT, base, copy_home  # noqa: E402

from lethe.keys import keyed_hash  # noqa: E402
from lethe.settings import Settings  # noqa: E402

LETHE = [sys.executable, "-m", "lethe.cli"]


@pytest.fixture
def scenario(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Settings:
    return copy_home(base(tmp_path_factory), tmp_path / "s")


def lethe(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LETHE_HOME": str(settings.home), "LETHE_LANDING": str(settings.landing),
           "LETHE_TENANTS": str(settings.tenants_file), "LETHE_AS_OF": settings.as_of.isoformat(),
           "LETHE_SECRET_KEY": settings.secret_key.decode()}
    return subprocess.run([*LETHE, *args], capture_output=True, text=True, env=env, timeout=600)


def _rows(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (["--contact-id", "003NOBODY"], "matches nobody"),
        (["--email", "nobody@example.com"], "matches nobody"),
    ],
)
def test_a_request_naming_nobody_is_refused_in_one_line(scenario: Settings, who: list[str], expected: str) -> None:
    result = lethe(scenario, "dsar", "restrict", "--tenant", TENANT, *who)
    assert result.returncode == 1
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _rows(scenario, "select count(*) from raw.dsr_requests where request_id like 'cli-%'") == [(0,)]


def test_on_a_home_with_nothing_ingested_requests_and_the_build_say_so_not_that_nobody_matches(
    scenario: Settings, tmp_path: Path
) -> None:
    """Before a first ingest Lethe cannot tell whether it holds anything on a person: "matches nobody" would be a
    wrong answer to an access request. The build, which dbt failed with a catalog error per staging model, says
    the same in one line."""
    empty = dataclasses.replace(scenario, home=tmp_path / "empty")
    for args in (["dsar", "export", "--tenant", TENANT, "--email", "nobody@example.com", "--format", "json",
                  "--out", str(tmp_path / "x.json")],
                 ["dsar", "erase", "--tenant", TENANT, "--email", "nobody@example.com"]):
        result = lethe(empty, *args)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"lethe: email 'nobody@example.com' matches nobody in tenant '{TENANT}': nothing of the tenant has been "
            "ingested yet (run 'lethe ingest' first)"]
    for args in (["purge"], ["purge", "--dry-run", "--json"]):  # a plan of nothing, not a traceback
        result = lethe(empty, *args)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        assert "marts.retention_due not built yet: run `lethe build`" in result.stdout or (
            json.loads(result.stdout)["actions"] == [])
    result = lethe(empty, "build")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"lethe: {empty.home / 'warehouse.duckdb'}: nothing ingested yet (no raw.agents): run 'lethe ingest' first")


def test_a_request_matching_several_people_is_refused(scenario: Settings) -> None:
    con = duckdb.connect(str(scenario.warehouse))
    con.execute("update raw.crm_contacts set email = ? where id = ?", [FILLERS[0]["email"], FILLERS[1]["id"]])
    con.close()
    result = lethe(scenario, "dsar", "object", "--tenant", TENANT, "--email", FILLERS[0]["email"].upper())
    assert result.returncode == 1
    assert "matches 2 people" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("command", "extra", "expected"),
    [
        ("object", [], ("objection", None)),
        ("rectify", ["--details", "postcode is wrong"], ("rectification", "postcode is wrong")),
    ],
)
def test_object_and_rectify_are_recorded_for_the_next_build(
    scenario: Settings, command: str, extra: list[str], expected: tuple
) -> None:
    person = FILLERS[2]
    result = lethe(scenario, "dsar", command, "--tenant", TENANT, "--email", f" {person['email'].upper()} ", *extra)
    assert result.returncode == 0, result.stderr
    rows = _rows(scenario, "select type, details, crm_contact_id, subject_email, verified_at is not null "
                           "from raw.dsr_requests where request_id like 'cli-%'")
    assert rows == [(*expected, person["id"], person["email"], True)]


@pytest.mark.slow
def test_restricted_subject_leaves_audiences_and_risk_scores_after_the_next_build(tmp_path: Path) -> None:
    """A generated tenant (300 subjects, enough history to train the risk model): two subjects who are both in
    the audience and scored are restricted on the command line; after the next build they are in neither."""
    from lethe.ingest import run_ingest
    from lethe.settings import load_settings

    gen = tmp_path / "landing"
    env = {"LETHE_HOME": str(tmp_path / "home"), "LETHE_LANDING": str(gen), "LETHE_TENANTS": str(gen / "tenants.yml"),
           "LETHE_AS_OF": "2026-06-01T00:00:00Z", "LETHE_SECRET_KEY": "restrict-secret"}
    out = subprocess.run([*LETHE, "generate", "--out", str(gen), "--subjects", "300", "--tenants", "1",
                          "--as-of", env["LETHE_AS_OF"]], capture_output=True, text=True, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    settings = load_settings(env)
    run_ingest(settings, landing=gen)
    assert lethe(settings, "build").returncode == 0

    tenant = next(p.name for p in gen.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    contacts = _rows(settings, "select id, email from raw.crm_contacts where email is not null order by id")
    by_key = {keyed_hash(settings.secret_key, tenant, "contact", cid): (cid, email) for cid, email in contacts}
    audience = {r[0] for r in _rows(settings, "select subject_key from marts.audience_eligible")}
    scores = {r[0] for r in _rows(settings, "select subject_key from marts.withdrawal_risk_scores")}
    both = sorted(k for k in audience & scores if k in by_key)
    assert len(both) >= 3, "the generated tenant must have subjects who are both in an audience and scored"
    first, second = both[0], both[1]

    r1 = lethe(settings, "dsar", "restrict", "--tenant", tenant, "--contact-id", by_key[first][0])
    r2 = lethe(settings, "dsar", "restrict", "--tenant", tenant, "--email", by_key[second][1].upper())
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    assert "recorded restriction request cli-restriction-" in r1.stdout
    assert _rows(settings, "select type, crm_contact_id, _source_file from raw.dsr_requests where request_id like "
                           "'cli-%' order by crm_contact_id") == sorted(
        [("restriction", by_key[k][0], "cli:lethe dsar restrict") for k in (first, second)], key=lambda r: r[1])

    assert lethe(settings, "build").returncode == 0
    audience_after = {r[0] for r in _rows(settings, "select subject_key from marts.audience_eligible")}
    scores_after = {r[0] for r in _rows(settings, "select subject_key from marts.withdrawal_risk_scores")}
    for key in (first, second):
        assert key not in audience_after and key not in scores_after
        assert _rows(settings, f"select is_restricted from marts.dim_subjects where subject_key = '{key}'") == [(True,)]
    assert both[2] in audience_after and both[2] in scores_after, "an unrestricted subject stays in both"


@pytest.mark.parametrize("fmt", ["json", "pdf"])
def test_an_export_to_a_folder_is_refused_in_one_line_and_leaves_no_copy_behind(
    scenario: Settings, tmp_path: Path, fmt: str
) -> None:
    """`--out` naming an existing folder: refused before anything is written, one line, and no temporary file
    holding the subject's data is left next to the folder (it used to be, under a hidden name)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    result = lethe(scenario, "dsar", "export", "--tenant", TENANT, "--email", FILLERS[0]["email"],
                   "--format", fmt, "--out", str(folder))
    assert result.returncode == 1
    assert result.stderr.strip() == f"lethe: {folder}: is a folder; --out names the file to write"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "s"] and list(folder.iterdir()) == []


@pytest.mark.parametrize(("fmt", "name", "hint"), [("csv", "person.csv", "a zip of one CSV per source; name it person.zip"),
                                              ("pdf", "person.json", "a PDF file; name it person.pdf")])
def test_an_export_named_for_another_format_is_refused_before_anything_is_written(
    scenario: Settings, tmp_path: Path, fmt: str, name: str, hint: str
) -> None:
    """`--format csv --out person.csv` wrote a zip under a .csv name, which a spreadsheet then failed to open."""
    out = tmp_path / name
    result = lethe(scenario, "dsar", "export", "--tenant", TENANT, "--email", FILLERS[0]["email"],
                   "--format", fmt, "--out", str(out))
    assert result.returncode == 1
    assert result.stderr.strip() == f"lethe: --out {out}: --format {fmt} writes {hint}"
    assert not out.exists()
    ok = lethe(scenario, "dsar", "export", "--tenant", TENANT, "--email", FILLERS[0]["email"],
               "--format", fmt, "--out", str(tmp_path / "person"))  # a name with no ending is the user's choice
    assert ok.returncode == 0, ok.stderr


def test_an_export_whose_write_fails_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lethe.fsutil as fsutil

    def refuse(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(fsutil.os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        fsutil.write_atomic(tmp_path / "subject.json", b'{"email": "someone@example.org"}')
    assert list(tmp_path.iterdir()) == []
