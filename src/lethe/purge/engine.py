"""The purge engine: plan -> guards -> execute -> verify, journalled per phase so a killed run resumes and converges."""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from lethe import audit, catalog
from lethe.dsr.identity import Subject
from lethe.errors import GuardError
from lethe.ingest.schema import hide_purged_paths
from lethe.policy import Policy, load_policy
from lethe.purge import compact as compaction
from lethe.purge import execute as steps
from lethe.purge import files, guards, journal, targets
from lethe.purge import plan as planning
from lethe.purge import verify as verification
from lethe.refused import scrub_refused
from lethe.settings import Settings
from lethe.warehouse import connect

log = logging.getLogger(__name__)

# Test hook: called with a point name ("before:<phase>", "after:<phase>", "planned", "verified") so a test can
# SIGKILL the process there, and the purge benchmark can time the phases. None in production.
HOOK: Callable[[str], None] | None = None


def _point(name: str) -> None:
    if HOOK is not None:
        HOOK(name)


@dataclass(frozen=True)
class PurgeResult:
    """What a purge planned and did; `to_dict` is the CONTRACT `lethe purge --json` shape (plus details)."""

    run_id: str
    dry_run: bool
    kind: str
    actions: tuple[planning.PlanAction, ...]
    counts: tuple[tuple[str, str, str, str, int], ...] = ()
    resumed: tuple[str, ...] = ()
    derived: str | None = None
    compacted: tuple[int, int] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    refused: str | None = None  # a dry run: the guard's line that would refuse the real run (None: it would pass)

    @property
    def record_count(self) -> int:
        return sum(a.record_count for a in self.actions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "actions": [a.to_dict() for a in self.actions],
            "executed": [
                {"tenant": t, "data_category": c, "table": tb, "action": a, "record_count": n}
                for t, c, tb, a, n in self.counts
            ],
            "resumed_runs": list(self.resumed),
            "derived_tables": self.derived,
            **({"would_be_refused": self.refused} if self.dry_run else {}),
        }

    def render(self) -> str:
        verb = "would" if self.dry_run else "did"
        lines = [f"purge {self.run_id} ({self.kind}{', dry run' if self.dry_run else ''}): "
                 f"{self.record_count} records planned"]
        lines += [f"resumed interrupted run {r}" for r in self.resumed]
        for a in self.actions:
            lines.append(f"  {a.tenant:<20} {a.data_category:<24} {a.reason:<18} {verb} {a.action:<9} {a.record_count}")
        if not self.dry_run and self.counts:
            lines.append(f"executed: {executed_summary(self.counts)}")
            for t, c, tb, a, n in self.counts:
                lines.append(f"  {t:<20} {c:<24} {tb:<28} {a:<11} {n}")
        if self.derived:
            lines.append(f"derived tables: {self.derived}")
        if self.compacted:
            lines.append(f"warehouse compacted: {self.compacted[0]} -> {self.compacted[1]} bytes")
        if self.refused:
            lines.append(f"a real run would be refused by its guards: {self.refused}")
        lines += list(self.notes)
        return "\n".join(lines)


def executed_summary(counts: Sequence[tuple[str, str, str, str, int]]) -> str:
    """What a run did, each count in its own unit: records (rows of the warehouse's tables and records in landing
    files), files deleted (recordings, transcripts, exports, refused landing files) and identities tombstoned."""
    def unit(target: str) -> str:
        if target == "lethe_meta.tombstones":
            return "identities"
        return "files" if target.startswith("file:") or target in ("exports", "landing:refused") else "records"

    total = Counter[str]()
    for _t, _c, target, _a, n in counts:
        total[unit(target)] += n
    return (f"{total['records']} records deleted or anonymised, {total['files']} files deleted, "
            f"{total['identities']} identities tombstoned")


def new_run_id(kind: str) -> str:
    """A sortable, unique run id."""
    return f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def plan_step(
    settings: Settings,
    *,
    run_id: str | None = None,
    kind: str = "retention",
    subjects: Sequence[Subject] | str = (),
    from_mart: bool = True,
    on_planned: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> planning.Plan:
    """Plan and persist (lethe_meta.purge_plans keyed by run id) in one transaction; audit the plan."""
    policy = load_policy(settings.tenants_file)
    run_id = run_id or new_run_id(kind)
    own = con is None
    con = con or connect(settings)
    try:
        journal.ensure(con)
        con.execute("begin")
        try:
            con.execute(
                "insert into lethe_meta.purge_runs (run_id, kind, created_at, as_of, policy_sha256, status, "
                "audit_keyed) values (?, ?, ?, ?, ?, 'planned', true)",
                [run_id, kind, planning.naive_utc(datetime.now(UTC)), planning.naive_utc(settings.as_of), policy.sha256],
            )
            plan = planning.build_plan(
                con, run_id=run_id, kind=kind, as_of=settings.as_of, policy=policy, subjects=subjects,
                from_mart=from_mart,
            )
            if on_planned is not None:
                on_planned(con, run_id)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        _point("planned")
        audit.append(
            settings,
            "purge.planned",
            run_id=run_id,
            kind=kind,
            as_of=settings.as_of.isoformat(),
            policy_sha256=policy.sha256,
            counts=[a.to_dict() for a in plan.actions],
            records_total=plan.record_count,
            subject_keys=_subject_keys(con, run_id),
        )
        return plan
    finally:
        if own:
            con.close()


def _subject_keys(con: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    rows = con.execute(
        "select distinct subject_key from lethe_meta.purge_plans where run_id = ? and subject_key is not null "
        "and reason = 'erasure_request' order by 1",
        [run_id],
    ).fetchall()
    return [r[0] for r in rows]


def check_guards(settings: Settings, run_id: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Run every guard on a persisted plan; on refusal mark the run refused, audit it, and raise GuardError."""
    policy = load_policy(settings.tenants_file)
    own = con is None
    con = con or connect(settings)
    try:
        journal.ensure(con)
        state = journal.get(con, run_id)
        if state is None or state.status not in ("planned", "running"):
            # a plan abandoned (another purge began meanwhile), refused or finished is never revived: it was made
            # from marts and holds that may have changed since
            raise GuardError(f"purge run {run_id} is {state.status if state else 'unknown'}, not planned: plan again")
        plan = planning.load(con, run_id)
        try:
            guards.check_all(con, plan, policy)
        except GuardError as exc:
            journal.set_status(con, run_id, "refused", str(exc))
            journal.forget_records(con, run_id)  # its records stay where they are: nothing was deleted
            audit.append(settings, "purge.refused", run_id=run_id, policy_sha256=policy.sha256, reason=str(exc))
            raise
        journal.set_status(con, run_id, "running")
    finally:
        if own:
            con.close()


def _counts(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[tuple[str, str, str, str, int], ...]:
    rows = con.execute(
        "select tenant_id, data_category, target, action, sum(rows)::bigint from lethe_meta.purge_counts "
        "where run_id = ? and rows > 0 group by all order by all",
        [run_id],
    ).fetchall()
    return tuple((t, c, tb, a, int(n)) for t, c, tb, a, n in rows)


def _record(con: duckdb.DuckDBPyConnection, run_id: str, rows: list[tuple[str, str, str, str, int]]) -> None:
    if rows:
        con.executemany("insert into lethe_meta.purge_counts values (?, ?, ?, ?, ?, ?)", [(run_id, *r) for r in rows])


def execute(settings: Settings, run_id: str) -> tuple[tuple[str, str, str, str, int], ...]:
    """Execute every phase the run has not completed yet (tombstones, raw, landing, files, exports, compact,
    rebuild); each phase commits before it is journalled, and every phase is idempotent. `verify` re-publishes."""
    policy = load_policy(settings.tenants_file)
    con = connect(settings)
    try:
        journal.ensure(con)
        state = journal.get(con, run_id)
        if state is not None and state.status == "done":
            return _counts(con, run_id)  # a retried task after success: nothing left to do
        if state is None or state.status != "running":
            raise GuardError(f"purge run {run_id} is {state.status if state else 'unknown'}; run its guards first")

        def phase(name: str, work: Callable[[], None]) -> None:
            if state.done(name):
                return
            _point(f"before:{name}")
            work()
            journal.complete(con, run_id, name)
            _point(f"after:{name}")

        def tombstone() -> None:
            if steps.write_tombstones(con, run_id, planning.naive_utc(datetime.now(UTC))):
                _record(con, run_id, [
                    (t, "identity", "lethe_meta.tombstones", "insert", n) for t, n in con.execute(
                        "select tenant_id, count(distinct identity_hash) from lethe_meta.purge_identities "
                        "where run_id = ? group by 1", [run_id]).fetchall()])

        phase("tombstones", tombstone)
        phase("raw", lambda: steps.run_steps(con, run_id, point=_point))
        def landing() -> None:
            rows = [(t, targets.CATEGORY.get(target.split(":")[1], "landing"), target, action, n)
                    for t, target, action, n in files.purge_landing(con, run_id, settings.landing, point=_point)]
            refused = Counter(t for t, _ in scrub_refused(con, settings.landing))  # the run's tombstones are in
            _record(con, run_id, rows + [(t, "landing", "landing:refused", "delete_file", n) for t, n in refused.items()])

        phase("landing", landing)
        phase("files", lambda: _record(con, run_id, files.delete_planned_files(con, run_id, settings.landing)))
        phase("exports", lambda: _record(con, run_id, [
            (t, "export", "exports", "delete_file", n)
            for t, n in files.purge_exports(con, run_id, settings.exports_dir, policy, settings.as_of)]))
        counts = _counts(con, run_id)
    finally:
        con.close()
    changed = bool(counts)
    rebuild = _rebuild_plan(settings, run_id) if changed else Rebuild("unchanged")
    # Compaction comes before the rebuild and leaves out the derived tables the rebuild recreates: the purged
    # rows' bytes leave with the old file without copying ~3/4 of the warehouse only to drop it a minute later.
    # Whatever the rebuild frees afterwards held only data computed from what survived.
    if not _state(settings, run_id).done("compact"):
        _point("before:compact")
        if changed:
            _drop_erased_scores(settings, run_id)
            compaction.compact(settings.warehouse, leave_out=rebuild.tables)
        _journal(settings, run_id, "compact")
        _point("after:compact")
    if not _state(settings, run_id).done("rebuild"):
        _point("before:rebuild")
        _journal(settings, run_id, "rebuild", derived=_rebuild(settings, rebuild))
        _point("after:rebuild")
    return counts


def _state(settings: Settings, run_id: str) -> journal.RunState:
    con = connect(settings)
    try:
        state = journal.get(con, run_id)
    finally:
        con.close()
    assert state is not None
    return state


def _journal(settings: Settings, run_id: str, phase: str, derived: str | None = None) -> None:
    con = connect(settings)
    try:
        journal.complete(con, run_id, phase, derived)
    finally:
        con.close()


RISK_FEATURES_MODEL = "withdrawal_risk_features"  # lethe.risk scores from it after dbt (pipeline.build_all)


def _changed_sources(settings: Settings, run_id: str) -> list[str]:
    """The raw tables (dbt sources `raw.<table>`) in which the run deleted or changed rows."""
    con = connect(settings)
    try:
        rows = con.execute(
            "select distinct substr(target, 5) from lethe_meta.purge_counts "
            "where run_id = ? and target like 'raw.%' and rows > 0 order by 1",
            [run_id],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class Rebuild:
    """What a run's rebuild does: 'stale' (never built here), 'unchanged' (no raw table changed) or 'rebuilt',
    with the raw sources that changed, the dbt models downstream of them, and those models' tables
    ((schema, name): what the compaction leaves out because the rebuild recreates them)."""

    state: str
    sources: tuple[str, ...] = ()
    models: frozenset[str] = frozenset()
    tables: frozenset[tuple[str, str]] = frozenset()


def _downstream(manifest: Path, sources: list[str]) -> list[dict[str, Any]]:
    """The dbt model nodes downstream of these raw sources, from the last build's manifest."""
    doc = json.loads(manifest.read_text())
    children: dict[str, list[str]] = doc.get("child_map", {})
    wanted = {("raw", s) for s in sources}
    todo = [n for n in children if n.startswith("source.") and tuple(n.split(".")[-2:]) in wanted]
    seen: set[str] = set()
    while todo:
        node = todo.pop()
        for child in children.get(node, []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    nodes = doc.get("nodes", {})
    return [nodes[n] for n in sorted(seen) if n.startswith("model.") and n in nodes]


def _rebuild_plan(settings: Settings, run_id: str) -> Rebuild:
    from lethe.build import dbt_target_dir

    manifest = dbt_target_dir(settings) / "manifest.json"
    if not manifest.exists():
        return Rebuild("stale")
    sources = _changed_sources(settings, run_id)
    if not sources:
        return Rebuild("unchanged")
    nodes = _downstream(manifest, sources)
    tables = {
        (n["schema"], n.get("alias") or n["name"])
        for n in nodes
        # every model stored as a table, whatever materialization writes it (table, incremental, diff_table):
        # the rebuild's --full-refresh recreates them all; views and ephemeral models hold no rows
        if n.get("config", {}).get("materialized") not in ("view", "ephemeral")
    }
    # and the bookkeeping tables an incremental model's hooks write beside it (its config's meta names them,
    # "schema.table"): the model's --full-refresh rewrites them from what survived the purge
    tables |= {
        tuple(name.split(".", 1))
        for n in nodes
        for name in n.get("config", {}).get("meta", {}).get("bookkeeping_tables", [])
    }
    return Rebuild("rebuilt", tuple(sources), frozenset(n["name"] for n in nodes), frozenset(tables))


def _drop_erased_scores(settings: Settings, run_id: str) -> None:
    """Remove the run's erased subjects from marts.withdrawal_risk_scores (written after dbt, read by dbt)."""
    con = connect(settings)
    try:
        if "subject_key" in catalog.columns(con, "marts", "withdrawal_risk_scores"):
            con.execute(
                "delete from marts.withdrawal_risk_scores s using lethe_meta.purge_identities i "
                "where i.run_id = ? and i.tenant_id = s.tenant_id and i.subject_key = s.subject_key",
                [run_id],
            )
    finally:
        con.close()


def _rebuild(settings: Settings, rebuild: Rebuild) -> str:
    """Rebuild, with --full-refresh so no purged row survives in an incremental model, only the dbt models
    downstream of the raw tables the run changed, and re-score withdrawal risk if its features were among
    them. 'stale' if the project was never built in this home; 'unchanged' if no raw table changed."""
    from lethe.build import last_build_as_of, run_build

    if rebuild.state != "rebuilt":
        if rebuild.state == "stale":
            log.info("no dbt build in %s yet: derived tables marked stale", settings.home)
        return rebuild.state
    # judged at the last build's as-of when the purge's own is older (a purge of an old day, an Airflow enforce
    # run cleared days later): the marts never go back to an earlier instant, where whoever unsubscribed since is
    # in the audience again
    last = last_build_as_of(settings)
    if last is not None and last > settings.as_of:
        settings = settings.with_as_of(last.isoformat())
    select = " ".join(f"source:raw.{s}+" for s in rebuild.sources)
    run_build(settings, select=select, full_refresh=True, unit_tests=False)
    if RISK_FEATURES_MODEL in rebuild.models:
        from lethe.risk import train_and_score

        train_and_score(settings, keep_fit=True)  # re-score with the stored fit; the next build refits
    return "rebuilt"


def _republish(settings: Settings, con: duckdb.DuckDBPyConnection, counts: tuple) -> None:
    """Swap in a snapshot of the purged warehouse (when the run changed anything, as its `counts` say, and one
    is published): the purged data leaves the dashboard's copy, and the snapshot's audit tables carry this run's
    outcome."""
    if settings.snapshot.exists() and counts:
        from lethe.publish import publish

        publish(settings, con)


def verify(settings: Settings, run_id: str) -> int:
    """Recompute what is due and check nothing the plan named survives; audit the run's completion, re-publish
    the snapshot (after the audit entry, which the snapshot's purge history shows) and mark the run done.
    Returns how many records fell due after the due list the plan was made from (the next run's)."""
    policy = load_policy(settings.tenants_file)
    con = connect(settings)
    try:
        state = journal.get(con, run_id)
        if state is None:
            raise GuardError(f"purge run {run_id}: no such run")
        derived = con.execute("select derived from lethe_meta.purge_runs where run_id = ?", [run_id]).fetchone()[0]
        try:
            due_later = verification.verify(
                con, run_id, settings.landing, kind=state.kind, tenants=sorted(policy.tenants),
                rebuilt=derived == "rebuilt",
            )
        except verification.VerifyError as exc:
            audit.append(settings, "purge.verify_failed", run_id=run_id, reason=str(exc))
            _republish(settings, con, _counts(con, run_id))  # what was purged leaves the snapshot even so
            raise
        journal.complete(con, run_id, "verify")
        hide_purged_paths(con)  # before the snapshot copies the manifest: the run's deleted files named by ContactId
        counts = _counts(con, run_id)
        # audited before it is marked done: killed in between, the run is resumed, verified and audited again
        # (a second entry), never done with no entry saying so
        audit.append(
            settings,
            "purge.completed",
            run_id=run_id,
            kind=state.kind,
            as_of=settings.as_of.isoformat(),
            policy_sha256=state.policy_sha256,
            derived_tables=derived,
            counts=[
                {"tenant": t, "data_category": c, "table": tb, "action": a, "record_count": n}
                for t, c, tb, a, n in counts
            ],
            records_total=sum(n for *_, n in counts),
            records_due_since_plan=due_later,
        )
        _point("audited")
        _point("before:publish")
        _republish(settings, con, counts)
        journal.complete(con, run_id, "publish")
        _point("after:publish")
        con.begin()  # done, and its record ids and file paths forgotten, at once
        planning.close_requests_of_the_erased(con, run_id, state.as_of)  # from the plan rows forgotten next
        journal.set_status(con, run_id, "done")
        journal.forget_records(con, run_id)
        con.commit()
    finally:
        con.close()
    _point("verified")
    return due_later


def resume_unfinished(settings: Settings) -> tuple[str, ...]:
    """Finish every run that was killed after its guards passed; abandon plans that never got that far."""
    if not settings.warehouse.exists():
        return ()
    con = connect(settings)
    try:
        journal.ensure(con)
        pending = journal.unfinished(con)
        stale = con.execute("select run_id from lethe_meta.purge_runs where status = 'planned'").fetchall()
        for (run_id,) in stale:  # audited first, as a completion is
            audit.append(settings, "purge.abandoned", run_id=run_id)
            journal.set_status(con, run_id, "abandoned", "planned but never executed (interrupted before its guards)")
        journal.forget_records(con)  # every ended run's: those this code ended and those older code kept
    finally:
        con.close()
    for state in pending:
        audit.append(settings, "purge.resumed", run_id=state.run_id, after_phase=state.phase)
        log.warning("resuming interrupted purge %s after phase %s", state.run_id, state.phase)
        execute(settings, state.run_id)
        verify(settings, state.run_id)
    return tuple(s.run_id for s in pending)


def run_engine(
    settings: Settings,
    *,
    kind: str,
    dry_run: bool = False,
    subjects: Sequence[Subject] | str = (),
    from_mart: bool = True,
    on_planned: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None,
) -> PurgeResult:
    """Resume what was interrupted, then plan, guard, execute and verify one run (or only plan, for a dry run)."""
    load_policy(settings.tenants_file)
    if dry_run:
        return _dry_run(settings, kind=kind, subjects=subjects, from_mart=from_mart)
    audit.check_appendable(settings.audit_log)
    resumed = resume_unfinished(settings)
    plan = plan_step(settings, kind=kind, subjects=subjects, from_mart=from_mart, on_planned=on_planned)
    check_guards(settings, plan.run_id)
    counts = execute(settings, plan.run_id)
    due_later = verify(settings, plan.run_id)
    state = _derived(settings, plan.run_id)
    notes = () if plan.mart_found or not from_mart else ("marts.retention_due not built yet: run `lethe build`",)
    outside = sum(c[-1] for c in counts if c[3] == "not_deleted")
    if outside:
        notes += (f"{outside} recording or transcript files were not deleted: their path is a folder, or outside "
                  "their tenant's folder in the landing zone (named in the log); remove them by hand if they are "
                  "this tenant's",)
    if due_later:
        notes += (f"{due_later} records fell due after the last build's due list (the rebuild at this run's "
                  "as-of found them): the next purge takes them",)
    notes += _offboarding_notes(settings)
    return PurgeResult(plan.run_id, False, kind, plan.actions, counts, resumed, state, None, notes)


def _derived(settings: Settings, run_id: str) -> str | None:
    con = connect(settings)
    try:
        row = con.execute("select derived from lethe_meta.purge_runs where run_id = ?", [run_id]).fetchone()
    finally:
        con.close()
    return row[0] if row else None


def _dry_run(settings: Settings, *, kind: str, subjects: Sequence[Subject] | str, from_mart: bool) -> PurgeResult:
    """Plan inside a transaction that is rolled back: the warehouse, files and audit log stay untouched."""
    policy: Policy = load_policy(settings.tenants_file)
    run_id = new_run_id(kind)
    if not settings.warehouse.exists():
        return PurgeResult(run_id, True, kind, (), notes=("no warehouse yet: nothing to purge",))
    con = duckdb.connect(str(settings.warehouse))
    try:
        con.execute("set variable lethe_key = ?", [settings.secret_key.decode()])
        con.execute("begin")
        try:
            journal.ensure(con)
            plan = planning.build_plan(
                con, run_id=run_id, kind=kind, as_of=settings.as_of, policy=policy, subjects=subjects,
                from_mart=from_mart,
            )
            refused = None
            try:  # the guards a real run checks next, on the same plan: the dry run says whether it would pass
                guards.check_all(con, plan, policy)
            except GuardError as exc:
                refused = str(exc).removeprefix("purge refused: ")
        finally:
            con.execute("rollback")
    finally:
        con.close()
    notes = () if plan.mart_found else ("marts.retention_due not built yet: run `lethe build`",)
    return PurgeResult(run_id, True, kind, plan.actions, notes=notes + _offboarding_notes(settings), refused=refused)


def _offboarding_notes(settings: Settings) -> tuple[str, ...]:
    """A note (and a warning in the log) for each tenant whose offboarding was interrupted: nothing else says
    that its deleted data may still be in the warehouse file."""
    from lethe.offboard import unfinished_offboardings

    notes = []
    for tenant in unfinished_offboardings(settings):
        log.warning("the offboarding of tenant %s was interrupted", tenant)
        notes.append(f"the offboarding of tenant {tenant} was interrupted before its compaction: its deleted data "
                     f"may remain in the warehouse file until `lethe tenant offboard --tenant {tenant}` is run again")
    return tuple(notes)
