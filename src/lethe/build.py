"""`lethe build`: write the tenant policy into the warehouse, then build the dbt project in-process.

The keyed-hash key reaches dbt's connections only through lethe.dbt_plugin; dbt's artifacts and
logs go under $LETHE_HOME/dbt, so parallel builds on different homes never share a target folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from lethe import catalog, tombstones
from lethe.contracts import centre_datasets
from lethe.errors import ConfigError, LetheError
from lethe.fsutil import write_atomic
from lethe.ingest.schema import PREVIOUS_ADDRESSES_DDL
from lethe.policy import Policy, load_policy
from lethe.settings import DBT_PROJECT_DIR, Settings

log = logging.getLogger(__name__)

_NODE_KINDS = {"model": "models", "test": "tests", "unit_test": "tests", "seed": "models", "snapshot": "models"}


class BuildError(LetheError):
    """A dbt model or test failed, or dbt itself could not run."""


@dataclass(frozen=True)
class BuildResult:
    """Counts of what dbt built and checked, and how long it took."""

    models_passed: int
    models_failed: int
    models_skipped: int
    tests_passed: int
    tests_failed: int
    tests_skipped: int
    elapsed: float
    target_dir: Path
    unit_tests_skipped: str = ""  # why dbt's unit tests were left out of this build, if they were

    def render(self) -> str:
        skipped = f"; unit tests not run: {self.unit_tests_skipped}" if self.unit_tests_skipped else ""
        return (
            f"dbt build: {self.models_passed} models built, {self.models_failed} failed, "
            f"{self.models_skipped} skipped; {self.tests_passed} tests passed, {self.tests_failed} failed, "
            f"{self.tests_skipped} skipped ({self.elapsed:.1f} s){skipped}"
        )


def dbt_target_dir(settings: Settings) -> Path:
    """Where this home's dbt artifacts (manifest, run_results, compiled SQL) go."""
    return settings.home / "dbt" / "target"


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The as_of instant (naive UTC ISO 8601): `lethe build` hands it to dbt as LETHE_DBT_AS_OF, read when the SQL
    runs (see the as_of() macro), so that dbt's partial parsing survives a new as-of; the Airflow DAG's cosmos
    tasks pass it as --vars."""
    return {"as_of": settings.as_of.strftime("%Y-%m-%dT%H:%M:%S")}


def policy_frames(policy: Policy) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The tenant policy as the two lethe_meta tables the dbt models read."""
    tenants = pl.DataFrame(
        {
            "tenant_id": [t.tenant_id for t in policy.tenants.values()],
            "controller": [t.controller for t in policy.tenants.values()],
            "dsr_sla_days": [t.dsr_sla_days for t in policy.tenants.values()],
            "consent_refresh_days": [t.consent_refresh_days for t in policy.tenants.values()],
        },
        schema={"tenant_id": pl.Utf8, "controller": pl.Utf8, "dsr_sla_days": pl.Int32, "consent_refresh_days": pl.Int32},
    )
    rows = policy.retention_rows()
    retention = pl.DataFrame(
        {"tenant_id": [r[0] for r in rows], "data_category": [r[1] for r in rows], "retention_days": [r[2] for r in rows]},
        schema={"tenant_id": pl.Utf8, "data_category": pl.Utf8, "retention_days": pl.Int32},
    )
    return tenants, retention


# what fct_dsr_requests reads as done (the dbt source lethe_meta.dsr_fulfilments); lethe.dsr.requests writes it
FULFILMENTS_DDL = (
    "create table if not exists lethe_meta.dsr_fulfilments "
    "(tenant_id varchar, request_id varchar, action varchar, fulfilled_at timestamp)"
)

# every request lethe.dsr.process_requests acted on and its outcome (fct_dsr_requests shows it, so a request
# Lethe could not act on says why); lethe.dsr.requests writes it
PROCESSED_DDL = """
create table if not exists lethe_meta.dsr_processed (
    tenant_id varchar not null,
    request_id varchar not null,      -- raw.dsr_requests.request_id, or 'individual:<Id>:<flag>'
    type varchar not null,
    outcome varchar not null,         -- erased | held | no_match | ambiguous | exported | applied | recorded
    run_id varchar,
    processed_at timestamp not null,
    received_at timestamp,            -- when the request was made (a CRM flag: the Individual's LastModifiedDate)
    primary key (tenant_id, request_id)
);
alter table lethe_meta.dsr_processed add column if not exists received_at timestamp
"""


# the as-of the last build judged at (written when it starts): the Airflow transform never judges earlier
BUILD_AS_OF_DDL = "create table if not exists lethe_meta.build_as_of (as_of timestamp not null)"


def last_build_as_of(settings: Settings) -> datetime | None:
    """The as-of the last build (of this home, by any route) judged at, UTC; None before the first."""
    import duckdb

    if not settings.warehouse.exists():
        return None
    from lethe.warehouse import connect

    con = connect(settings)
    try:
        try:
            row = con.execute("select max(as_of) from lethe_meta.build_as_of").fetchone()
        except duckdb.CatalogException:
            return None
    finally:
        con.close()
    return row[0].replace(tzinfo=UTC) if row and row[0] is not None else None


def write_policy(settings: Settings) -> Policy:
    """Load the tenant policy file and replace lethe_meta.tenant_policy / retention_policy with it; record the
    as-of the build judges at (lethe_meta.build_as_of)."""
    from lethe.warehouse import connect

    policy = load_policy(settings.tenants_file)
    tenant_policy, retention_policy = policy_frames(policy)
    con = connect(settings)
    try:
        con.execute("create or replace table lethe_meta.tenant_policy as select * from tenant_policy")
        con.execute("create or replace table lethe_meta.retention_policy as select * from retention_policy")
        con.execute(FULFILMENTS_DDL)
        con.execute(PROCESSED_DDL)
        con.execute(PREVIOUS_ADDRESSES_DDL)  # ingest fills it; a home loaded by older code builds with it empty
        con.execute(catalog.SUBJECT_KEYS_DDL)  # the identity model fills it
        tombstones.ensure(con)  # fct_dsr_requests: an erasure asked of someone already erased is done
        _raw_schema_current(con)
        unlisted = _tenants_without_policy(con, set(policy.tenants))
        if not unlisted:
            con.execute(BUILD_AS_OF_DDL)
            con.execute("begin")
            con.execute("delete from lethe_meta.build_as_of")
            con.execute("insert into lethe_meta.build_as_of values (?)",
                        [settings.as_of.astimezone(UTC).replace(tzinfo=None)])
            con.execute("commit")
    finally:
        con.close()
    if unlisted:
        raise ConfigError(
            f"{settings.tenants_file}: the warehouse holds data of tenant {', '.join(unlisted)}, which the file does "
            "not name: with no controller and no retention nothing of it would ever fall due; add the tenant back, "
            f"or, if its contract has ended, delete its data with `lethe tenant offboard --tenant {unlisted[0]}`"
        )
    return policy


def _require_ingested(settings: Settings) -> None:
    """Refuse, in one line, a build with nothing to build from: before a first ingest the raw tables do not exist,
    and dbt would fail on every staging model with a catalog error."""
    from lethe.contracts import load_all_contracts
    from lethe.warehouse import connect

    con = connect(settings)
    try:
        missing = sorted(set(load_all_contracts()) - catalog.raw_tables(con))
    finally:
        con.close()
    if missing:
        raise BuildError(f"{settings.warehouse}: nothing ingested yet (no raw.{missing[0]}): run 'lethe ingest' first")


def purges_awaiting_rebuild(settings: Settings) -> list[str]:
    """The purge runs stopped after they changed raw rows and before their rebuild (lethe.purge.journal.PHASES
    'raw' to 'compact'), oldest first. A purge anonymises rows in place (their `_loaded_at` unchanged) and deletes
    others; the daily scopes of the incremental models find new and deleted rows but not rows rewritten in place,
    which only that purge's --full-refresh rebuild folds in. Until it has run, a build recomputes everything."""
    from lethe.warehouse import connect

    con = connect(settings)
    try:
        if not catalog.table_exists(con, "lethe_meta", "purge_runs"):
            return []
        return [r for (r,) in con.execute(
            "select run_id from lethe_meta.purge_runs where status = 'running' "
            "and phase in ('raw', 'landing', 'files', 'exports', 'compact') order by created_at").fetchall()]
    finally:
        con.close()


def _raw_schema_current(con: Any) -> None:
    """Raw columns newer code reads (ingest adds them too): a home loaded by older code builds before its next
    ingest."""
    from lethe.contracts import load_all_contracts
    from lethe.ingest.schema import add_new_columns

    add_new_columns(con, load_all_contracts())


def _tenants_without_policy(con: Any, listed: set[str]) -> list[str]:
    """Tenants with rows in a raw table that the policy file does not name (the centre's own data aside)."""
    tables = [t for (t,) in con.execute(
        "select table_name from duckdb_columns() where database_name = current_database() and schema_name = 'raw' "
        "and column_name = 'tenant_id' order by 1"
    ).fetchall()]
    centre = centre_datasets()  # their tenant_id is data (an agent's client, a breach's), not the rows' owner
    tables = [t for t in tables if t not in centre]
    if not tables:
        return []
    union = " union ".join(f'select distinct tenant_id from raw."{t}"' for t in tables)  # noqa: S608 - catalog names
    found = {t for (t,) in con.execute(union).fetchall() if t is not None}
    return sorted(found - listed - {"_centre"})


@contextmanager
def _dbt_environment(settings: Settings, target: str) -> Iterator[None]:
    """LETHE_HOME and the target for profiles.yml, the as-of for the as_of() macro, and the key for
    lethe.dbt_plugin, during one dbt call."""
    from lethe.dbt_plugin import using_settings

    saved = {name: os.environ.get(name) for name in ("LETHE_HOME", "LETHE_DBT_TARGET", "LETHE_DBT_AS_OF")}
    os.environ["LETHE_HOME"] = str(settings.home)
    os.environ["LETHE_DBT_TARGET"] = target
    os.environ["LETHE_DBT_AS_OF"] = dbt_vars(settings)["as_of"]
    try:
        with using_settings(settings):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _invoke(settings: Settings, args: list[str], target: str, target_dir: Path) -> Any:
    from dbt.cli.main import dbtRunner

    argv = [
        *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_dir),
        "--log-path", str(target_dir.parent / "logs"),
        "--target", target,
        "--quiet",
    ]
    # dbt records the process's command line (sys.argv) as the run's invocation_command, in dbt.log and in
    # run_results.json: from `lethe dsar erase --phone ...` that would be the subject's phone or email, left on
    # disk after the erasure. It sees the dbt command it runs instead.
    saved_argv = sys.argv
    with _dbt_environment(settings, target):
        try:
            sys.argv = ["dbt", *argv]
            return dbtRunner().invoke(argv)
        finally:
            sys.argv = saved_argv
            if target == "duckdb":
                _release_duckdb()


def _release_duckdb() -> None:
    """Close dbt-duckdb's cached database handle, so the warehouse can be reopened (read-only too)."""
    import gc

    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()
    gc.collect()


_NOT_PROJECT_FILES = frozenset({"target", "logs", "dbt_packages", ".user.yml"})
_LOGIC_PACKAGES = ("dbt-core", "dbt-adapters", "dbt-duckdb", "dbt-spark", "duckdb", "pyspark")


def project_fingerprint(project_dir: Path, target: str) -> str:
    """A hash of everything a dbt unit test's outcome depends on: every file of the dbt project (models, macros,
    their YAML with the unit tests' fixed inputs, dbt_project.yml, profiles.yml; not dbt's own output), the
    versions of dbt, its adapters and the engines, and the target."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256(f"target={target}\n".encode())
    for name in _LOGIC_PACKAGES:
        try:
            digest.update(f"{name}=={version(name)}\n".encode())
        except PackageNotFoundError:
            digest.update(f"{name} absent\n".encode())
    files = sorted(
        p for p in project_dir.rglob("*")
        if p.is_file() and not _NOT_PROJECT_FILES.intersection(p.relative_to(project_dir).parts)
    )
    for path in files:
        digest.update(f"{path.relative_to(project_dir).as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


# A folder for the record of the last time every unit test passed, shared by the homes whose builds set it (the
# default is each home's own dbt folder). Their outcome depends on the project and the versions only
# (project_fingerprint), not on the home's data: homes on one machine that share the folder run them once per
# change of code or versions between them (a staging and a production home; the test suite's many homes).
UNIT_TESTS_RECORD_DIR = "LETHE_UNIT_TESTS_RECORD_DIR"


def _unit_tests_record(settings: Settings, target: str) -> Path:
    shared = os.environ.get(UNIT_TESTS_RECORD_DIR)
    return (Path(shared) if shared else settings.home / "dbt") / f"unit-tests-passed-{target}.json"


def _unit_tests_passed_at(settings: Settings, target: str, fingerprint: str) -> str | None:
    """When every unit test last passed on this home with the project and versions that hash to fingerprint."""
    try:
        record = json.loads(_unit_tests_record(settings, target).read_text())
    except (OSError, ValueError):
        return None
    return record.get("passed_at") if isinstance(record, dict) and record.get("fingerprint") == fingerprint else None


def _record_unit_tests_passed(settings: Settings, target: str, fingerprint: str) -> None:
    passed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record = json.dumps({"fingerprint": fingerprint, "passed_at": passed_at}).encode()
    try:
        write_atomic(_unit_tests_record(settings, target), record, mode=0o644)
    except OSError as exc:  # only a saving: the next build runs them again (a shared folder this user may not write)
        log.warning("could not record that the unit tests passed: %s", exc)


def _one_line(error: object, limit: int = 3) -> str:
    """The first few non-empty lines of a dbt error, joined into one line, without dbt's terminal colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not set(line.strip()) <= set("-=")]
    return " | ".join(lines[:limit]) or type(error).__name__


def _status(result: Any) -> str:
    return str(getattr(result.status, "value", result.status)).lower()


def run_build(
    settings: Settings,
    select: str | None = None,
    *,
    target: str = "duckdb",
    full_refresh: bool = False,
    unit_tests: bool | None = None,
) -> BuildResult:
    """Build (run + test) the dbt project at settings.as_of; raise BuildError naming the first failing node.

    Incremental models (per-event folds over raw tables, `materialized=incremental` in dbt_project) fold rows loaded
    since the last build; full_refresh=True (`--full-refresh`) rebuilds them from the raw layer, which every
    rebuild after a purge or erasure must do so that no deleted raw row survives in a derived table.
    dbt unit tests check the models' logic on fixed inputs, not the data, so their outcome changes only with the
    project's code or the versions of dbt and the engine (project_fingerprint). unit_tests=None (the default, what
    `lethe build` does) runs them on a full refresh, and otherwise only when the fingerprint differs from the one
    recorded the last time all of them passed on this home: the daily build of unchanged code leaves them out and
    says so. True always runs them, False never does (a purge's rebuild changes data only). Data tests always run.
    """
    start = time.perf_counter()
    if target == "duckdb":
        _require_ingested(settings)
        write_policy(settings)
        pending = [] if full_refresh else purges_awaiting_rebuild(settings)
        if pending:
            log.warning("purge run %s changed raw rows and has not rebuilt yet (`lethe purge` finishes it): "
                        "building with --full-refresh", pending[0])
            full_refresh = True
    else:
        load_policy(settings.tenants_file)  # refuse an invalid policy file before anything runs
    if target == "spark":
        from lethe.dbt_plugin import configure_spark

        configure_spark(settings)
    target_dir = dbt_target_dir(settings) if target == "duckdb" else settings.home / "dbt" / f"target-{target}"
    args = ["build"] + (["--select", select] if select else []) + (["--full-refresh"] if full_refresh else [])
    # hashed only when it is compared or recorded: a purge's rebuild (unit_tests=False) reads no project file
    fingerprint = project_fingerprint(DBT_PROJECT_DIR, target) if unit_tests is not False else ""
    skipped = ""
    if unit_tests is None and not full_refresh:
        passed_at = _unit_tests_passed_at(settings, target, fingerprint)
        skipped = f"the project and dbt are unchanged since they all passed at {passed_at}" if passed_at else ""
    elif unit_tests is False:
        skipped = "left out by the caller"
    if skipped:
        args += ["--exclude-resource-type", "unit_test"]
    res = _invoke(settings, args, target, target_dir)
    if res.exception is not None:
        raise BuildError(f"dbt build could not run: {_one_line(res.exception)}")
    counts = {f"{kind}_{state}": 0 for kind in ("models", "tests") for state in ("passed", "failed", "skipped")}
    failures: list[str] = []
    for node_result in res.result.results if res.result is not None else []:
        node = node_result.node
        kind = _NODE_KINDS.get(str(getattr(node.resource_type, "value", node.resource_type)), "models")
        status = _status(node_result)
        if status in ("success", "pass", "warn"):
            counts[f"{kind}_passed"] += 1
        elif status == "skipped":
            counts[f"{kind}_skipped"] += 1
        else:
            counts[f"{kind}_failed"] += 1
            failures.append(f"{node.resource_type} {node.name} {status}: {_one_line(node_result.message or status, 2)}")
    result = BuildResult(**counts, elapsed=time.perf_counter() - start, target_dir=target_dir,
                         unit_tests_skipped=skipped)
    log.info(result.render())
    if failures or not res.success:
        first = failures[0] if failures else "dbt reported failure"
        more = f" (and {len(failures) - 1} more; see {target_dir / 'run_results.json'})" if len(failures) > 1 else ""
        raise BuildError(f"dbt build failed: {first}{more}")
    if not skipped and select in (None, "*"):  # every unit test ran and passed
        _record_unit_tests_passed(settings, target, fingerprint)
    return result


def parse_project(settings: Settings) -> Path:
    """`dbt parse` into dbt_project/target/manifest.json (the pre-built manifest Airflow/cosmos reads).

    dbt writes into a private folder next to target/, and each artifact is then moved into target/ with
    an atomic rename, manifest.json last: a DAG processor (or a second parse) reading the manifest while
    this one runs sees the old file or the new one, never a half-written one."""
    import shutil
    import tempfile

    target_dir = DBT_PROJECT_DIR / "target"
    target_dir.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".target-parse-", dir=DBT_PROJECT_DIR))
    try:
        if (target_dir / "partial_parse.msgpack").exists():
            shutil.copy2(target_dir / "partial_parse.msgpack", scratch / "partial_parse.msgpack")
        res = _invoke(settings, ["parse"], "duckdb", scratch)
        if not res.success:
            reason = _one_line(res.exception) if res.exception else "see dbt logs"
            raise BuildError(f"dbt parse of {DBT_PROJECT_DIR} failed: {reason}")
        artifacts = sorted((p for p in scratch.iterdir() if p.is_file()), key=lambda p: p.name == "manifest.json")
        for artifact in artifacts:
            os.replace(artifact, target_dir / artifact.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target_dir / "manifest.json"
