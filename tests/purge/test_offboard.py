"""Offboarding (GDPR Art. 28(3)(g)): when a client's contract ends, `lethe tenant offboard` deletes everything
held for it (warehouse rows, landing and export folders, the snapshot's copy, the freed bytes of the warehouse
file) and nothing of any other tenant; it is refused, deleting nothing, while the tenant is still a client in the
policy file or has an open legal hold."""

from __future__ import annotations

from pathlib import Path

import duckdb
import generated_home
import pytest
from generated_home import AS_OF, NO_HOLDS, env_for, settings_for
from purge_scenario import grep_home

from lethe.settings import Settings

GONE = NO_HOLDS


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated home of three tenants; GONE has no legal hold, and an access export written earlier."""
    root = generated_home.build(tmp_path_factory.mktemp("offboard"))
    export = settings_for(root).exports_dir / GONE / "some-subject.json"
    export.parent.mkdir(parents=True)
    export.write_text("{}")
    return root


def _copy(built: Path, dest: Path, *, drop_from_policy: bool) -> Settings:
    settings = generated_home.copy(built, dest)
    if drop_from_policy:
        policy = settings.tenants_file
        lines, kept, skipping = policy.read_text().splitlines(keepends=True), [], False
        for line in lines:
            if line.startswith(f"  {GONE}:"):
                skipping = True
            elif skipping and line.startswith("  ") and not line.startswith("    "):
                skipping = False
            if not skipping:
                kept.append(line)
        policy.write_text("".join(kept))
    return settings


def _rows_by_tenant(path: Path) -> dict[tuple[str, str], int]:
    """(table, tenant) -> rows, for every table (not view) with a tenant_id."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select t.schema_name, t.table_name from duckdb_tables() t join duckdb_columns() c using "
            "(database_name, schema_name, table_name) where c.column_name = 'tenant_id' "
            "and t.database_name = current_database()").fetchall()
        out: dict[tuple[str, str], int] = {}
        for schema, table in tables:
            for tenant, n in con.execute(f'select tenant_id, count(*) from "{schema}"."{table}" group by 1').fetchall():
                out[(f"{schema}.{table}", tenant)] = n
        return out
    finally:
        con.close()


def _addresses(settings: Settings) -> list[str]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return [e for (e,) in con.execute("select email from raw.crm_contacts where tenant_id = ? and email is not null "
                                          "order by 1 limit 5", [GONE]).fetchall()]
    finally:
        con.close()


def test_offboarding_deletes_everything_of_the_tenant_and_nothing_of_the_others(built: Path, tmp_path: Path) -> None:
    from lethe import audit
    from lethe.build import run_build
    from lethe.offboard import offboard

    settings = _copy(built, tmp_path / "h", drop_from_policy=True)
    before = _rows_by_tenant(settings.warehouse)
    emails = _addresses(settings)
    assert len(emails) == 5 and grep_home(tmp_path / "h", emails)  # held in the warehouse, snapshot, landing

    dry = offboard(settings, GONE, dry_run=True)
    assert dry.rows and dry.landing_files > 100 and dry.export_files == 1
    assert _rows_by_tenant(settings.warehouse) == before and (settings.landing / GONE).is_dir()

    result = offboard(settings, GONE)

    after = _rows_by_tenant(settings.warehouse)
    left = {table for (table, tenant) in after if tenant == GONE}
    assert left == {"raw.agents", "raw.breaches", "marts.fct_breaches"}  # the centre's own records stay
    assert {k: n for k, n in before.items() if k[1] != GONE} == {k: n for k, n in after.items() if k[1] != GONE}
    assert sum(n for _, n in result.rows) == sum(n for (t, g), n in before.items() if g == GONE and t not in left)
    assert not (settings.landing / GONE).exists() and not (settings.exports_dir / GONE).exists()
    assert grep_home(tmp_path / "h", emails) == []  # warehouse file compacted, snapshot re-published
    entries = [e["event"] for e in audit.read_entries(settings.audit_log)]
    assert entries[-2:] == ["tenant.offboard.started", "tenant.offboarded"]
    assert audit.verify_chain(settings.audit_log) == len(entries)

    run_build(settings)  # the policy file no longer names the tenant, and nothing of it is left to refuse for
    assert {table for (table, tenant) in _rows_by_tenant(settings.warehouse) if tenant == GONE} == left


def test_offboarding_is_refused_while_the_tenant_is_a_client_or_under_a_legal_hold(
        built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from lethe.cli import main
    from lethe.errors import GuardError, LetheError
    from lethe.offboard import offboard

    settings = _copy(built, tmp_path / "h", drop_from_policy=False)
    before = _rows_by_tenant(settings.warehouse)
    for name, value in env_for(settings).items():
        monkeypatch.setenv(name, value)
    assert main(["tenant", "offboard", "--tenant", GONE, "--as-of", AS_OF]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{GONE} is still in {settings.tenants_file}" in err
    with pytest.raises(GuardError, match=f"{GONE} is still in .*tenants.yml"):
        offboard(settings, GONE)
    # acme-energy has open legal holds (generated): even out of the policy file, its held data is kept
    policy = settings.tenants_file.read_text()
    settings.tenants_file.write_text(policy.replace("  acme-energy:", "  acme-energy-x:"))
    with pytest.raises(GuardError, match="acme-energy has [0-9]+ open legal hold"):
        offboard(settings, "acme-energy")
    with pytest.raises(LetheError, match="nothing is held for it"):
        offboard(settings, "no-such-client")
    assert _rows_by_tenant(settings.warehouse) == before
    assert (settings.landing / GONE).is_dir() and (settings.landing / "acme-energy").is_dir()


def test_an_offboarding_stopped_before_the_compaction_finishes_when_run_again(built: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after the rows and folders went but before the warehouse file was compacted, the deleted rows'
    bytes are still in the file: the next run finds nothing to count, and must compact all the same."""
    from lethe import audit
    from lethe import offboard as module

    settings = _copy(built, tmp_path / "h", drop_from_policy=True)
    emails = _addresses(settings)

    class Killed(Exception):
        pass

    def kill(point: str) -> None:
        raise Killed(point)

    monkeypatch.setattr(module, "HOOK", kill)
    with pytest.raises(Killed):
        module.offboard(settings, GONE)
    assert not (settings.landing / GONE).exists()
    # a purge says so (before, nothing did, and the deleted bytes stayed in the file)
    from lethe.purge import run_purge

    assert module.unfinished_offboardings(settings) == [GONE]
    notes = run_purge(settings, dry_run=True).notes
    assert any(f"offboarding of tenant {GONE} was interrupted" in note for note in notes), notes

    monkeypatch.setattr(module, "HOOK", None)
    result = module.offboard(settings, GONE)
    assert module.unfinished_offboardings(settings) == []

    assert result.rows == () and result.compacted is not None
    assert grep_home(tmp_path / "h", emails) == []
    entries = audit.read_entries(settings.audit_log)
    assert [e["event"] for e in entries[-3:]] == ["tenant.offboard.started", "tenant.offboard.resumed",
                                                  "tenant.offboarded"]
    started, resumed, done = entries[-3:]
    # the closing entry reports what the offboarding deleted, though the run that finished it found nothing left
    assert started["rows"] > 0 and done["rows"] == started["rows"] and done["tables"] == started["tables"]
    assert done["landing_files"] == started["landing_files"] > 0 and resumed["started_seq"] == started["seq"]
    assert audit.verify(settings).entries == len(entries), "lethe audit verify accepts the log"
    with pytest.raises(Exception, match="nothing is held for it"):
        module.offboard(settings, GONE)  # done: a third run has nothing to do
