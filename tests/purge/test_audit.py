"""The audit log: hash-chained, keyed (a MAC per entry), anchored by its head, cross-checked against the
warehouse's purge runs; `lethe audit verify` catches any tampering."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lethe.audit import (
    GENESIS,
    AuditError,
    append,
    check_appendable,
    head_path,
    read_entries,
    verify,
    verify_chain,
)
from lethe.settings import Settings, load_settings

KEY = "k"


def _settings(tmp_path: Path, key: str = KEY) -> Settings:
    return load_settings({"LETHE_HOME": str(tmp_path / "home"), "LETHE_SECRET_KEY": key})


def _log(tmp_path: Path) -> Settings:
    settings = _settings(tmp_path)
    append(settings, "purge.planned", run_id="r1", counts=[{"tenant": "t", "record_count": 3}], records_total=3)
    append(settings, "purge.completed", run_id="r1", records_total=3)
    append(settings, "purge.planned", run_id="r2", records_total=0)
    return settings


def _dump(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def _sha(entry: dict[str, Any]) -> str:
    """The pre-MAC rule: sha256 of everything but `hash` (what anyone can recompute)."""
    return hashlib.sha256(_dump({k: v for k, v in entry.items() if k != "hash"}).encode()).hexdigest()


def _chained(prev: dict[str, Any] | None, event: str, **fields: Any) -> dict[str, Any]:
    """An entry written by hand with the old sha256-only rule (as a pre-MAC Lethe wrote it, or a forger)."""
    entry = {"seq": prev["seq"] + 1 if prev else 1, "at": "2025-01-02T03:04:05+00:00", "event": event, **fields,
             "prev": prev["hash"] if prev else GENESIS}
    entry["hash"] = _sha(entry)
    return entry


def _add_line(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(_dump(entry) + "\n")


def test_intact_log_verifies_with_its_entry_count(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    result = verify(settings)
    assert (result.entries, result.legacy_entries, result.head_seq) == (3, 0, 3)
    assert verify_chain(settings.audit_log) == 3
    entries = read_entries(settings.audit_log)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[1]["prev"] == entries[0]["hash"]
    assert all(len(e["mac"]) == 64 for e in entries)
    head = json.loads(head_path(settings.audit_log).read_text())
    assert (head["seq"], head["hash"]) == (3, entries[2]["hash"])
    assert "audit log intact: 3 entries; head #3 matches" in result.render()


def test_a_home_without_purges_says_its_log_is_empty(tmp_path: Path) -> None:
    """Not 'a log from before keyed MACs': nothing has been written to it yet."""
    rendered = verify(_settings(tmp_path)).render()
    assert rendered.startswith("audit log empty: no purge has run yet; warehouse: none yet")
    assert "keyed MACs" not in rendered


def test_edited_count_is_detected(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    path = settings.audit_log
    lines = path.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["records_total"] = 1  # someone hides two erased records
    lines[0] = _dump(entry)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditError, match="line 1 was edited"):
        verify(settings)


def test_edit_with_every_hash_recomputed_is_caught_by_the_mac(tmp_path: Path) -> None:
    """Anyone can recompute sha256 down the chain; nobody without the key can recompute the MACs."""
    settings = _log(tmp_path)
    path = settings.audit_log
    entries = read_entries(path)
    entries[0]["records_total"] = 1
    prev = GENESIS
    for entry in entries:
        entry["prev"] = prev
        entry["hash"] = _sha({k: v for k, v in entry.items() if k != "mac"})
        prev = entry["hash"]
    path.write_text("".join(_dump(e) + "\n" for e in entries))
    head_path(path).unlink()  # and the head cannot be rewritten to match (its MAC)
    assert verify_chain(path) == 3
    with pytest.raises(AuditError, match=r"audit\.jsonl: line 1 has a MAC that does not match: edited or forged"):
        verify(settings)


def test_removed_entry_is_detected(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    lines = settings.audit_log.read_text().splitlines()
    settings.audit_log.write_text("\n".join([lines[0], lines[2]]) + "\n")
    with pytest.raises(AuditError, match="line 2 does not chain"):
        verify(settings)


@pytest.mark.parametrize("mac", [None, "0" * 64, "copied", "other key"])
def test_forged_entry_appended_at_the_end_is_detected(tmp_path: Path, mac: str | None) -> None:
    settings = _log(tmp_path)
    path = settings.audit_log
    entries = read_entries(path)
    forged = _chained({k: v for k, v in entries[-1].items()}, "purge.completed", run_id="r2", records_total=0)
    if mac == "copied":
        forged["mac"] = entries[-1]["mac"]
    elif mac == "other key":  # a MAC made the right way, with another key
        from lethe.audit import _entry_mac, audit_key

        forged["mac"] = _entry_mac(audit_key(_settings(tmp_path, "guess")), forged)
    elif mac is not None:
        forged["mac"] = mac
    _add_line(path, forged)
    assert verify_chain(path) == 4  # the sha256 chain alone is valid
    expected = "line 4 has no MAC but follows keyed entries: forged" if mac is None else (
        "line 4 has a MAC that does not match: edited or forged, or LETHE_SECRET_KEY is not the key")
    with pytest.raises(AuditError, match=expected):
        verify(settings)


def test_truncated_log_is_detected_by_its_head(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    path = settings.audit_log
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # the last entry deleted: what remains still chains
    assert verify_chain(path) == 2
    with pytest.raises(AuditError, match=r"ends at entry #2 but audit\.head records #3: entries after #2 were "
                                         r"removed \(truncated\)"):
        verify(settings)


def test_a_truncated_log_refuses_appends_so_a_later_entry_cannot_hide_the_cut(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    path = settings.audit_log
    before = head_path(path).read_bytes()
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(AuditError, match="truncated"):
        check_appendable(path)
    with pytest.raises(AuditError, match="truncated"):
        append(settings, "purge.planned", run_id="r3")
    assert verify_chain(path) == 2 and head_path(path).read_bytes() == before


def test_another_log_of_the_same_length_and_key_is_not_the_one_the_head_records(tmp_path: Path) -> None:
    """A log swapped for another written with the same key (another home, or an older copy that went on
    differently): every MAC matches, but its last entry is not the one the head records."""
    from lethe.audit import _entry_mac, audit_key

    settings = _log(tmp_path)
    path = settings.audit_log
    entries = read_entries(path)
    other = _chained({k: v for k, v in entries[1].items()}, "purge.planned", run_id="r2", records_total=99)
    other["mac"] = _entry_mac(audit_key(settings), other)
    path.write_text("".join(_dump(e) + "\n" for e in [*entries[:2], other]))
    with pytest.raises(AuditError, match=r"entry #3 is not the one audit\.head records: the log was rewritten"):
        verify(settings)


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_wiped_log_with_its_head_left_is_detected(tmp_path: Path, how: str) -> None:
    settings = _log(tmp_path)
    if how == "deleted":
        settings.audit_log.unlink()
    else:
        settings.audit_log.write_text("")
    assert verify_chain(settings.audit_log) == 0
    with pytest.raises(AuditError, match=r"audit\.jsonl: (missing|empty), but audit\.head records entry #3: the log "
                                         "was wiped"):
        verify(settings)


def test_log_rewritten_from_scratch_is_detected(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    first = _chained(None, "purge.planned", run_id="r1", records_total=0)
    settings.audit_log.write_text(_dump(first) + "\n")
    with pytest.raises(AuditError):
        verify(settings)
    head_path(settings.audit_log).unlink()  # and the head with it: a log of pre-MAC entries only, see README
    result = verify(settings)
    assert result.head_seq is None and "its end cannot be vouched for" in result.render()


def test_deleted_head_is_detected(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    head_path(settings.audit_log).unlink()
    with pytest.raises(AuditError, match=r"audit\.head: missing, but .*audit\.jsonl has keyed entries: the head was "
                                         "removed"):
        verify(settings)
    with pytest.raises(AuditError, match="the head was removed"):
        check_appendable(settings.audit_log)


@pytest.mark.parametrize("forgery", ["entry mac", "zeros", "seq"])
def test_forged_head_is_detected(tmp_path: Path, forgery: str) -> None:
    settings = _log(tmp_path)
    path = settings.audit_log
    head = json.loads(head_path(path).read_text())
    entries = read_entries(path)
    if forgery == "entry mac":  # an entry's MAC is no head's MAC (its own domain)
        head["mac_head"] = entries[-1]["mac"]
    elif forgery == "zeros":
        head["mac_head"] = "0" * 64
    else:  # the head moved back to match a truncated log
        head["seq"], head["hash"] = 2, entries[1]["hash"]
        path.write_text("".join(_dump(e) + "\n" for e in entries[:2]))
    head_path(path).write_text(json.dumps(head))
    with pytest.raises(AuditError, match=r"audit\.head: its MAC does not match: edited or forged"):
        verify(settings)


def test_wrong_secret_key_is_reported_clearly(tmp_path: Path) -> None:
    _log(tmp_path)
    with pytest.raises(AuditError) as err:
        verify(_settings(tmp_path, "not-k"))
    message = str(err.value)
    assert "audit.jsonl: line 1 " in message and "\n" not in message
    assert "LETHE_SECRET_KEY is not the key this log was written with" in message


def test_legacy_prefix_then_keyed_entries_verifies_and_counts_the_legacy_ones(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = _chained(None, "purge.planned", run_id="old", records_total=2)
    second = _chained(first, "purge.completed", run_id="old", records_total=2)
    _add_line(settings.audit_log, first)
    _add_line(settings.audit_log, second)
    assert verify(settings).legacy_entries == 2  # a log from before keyed MACs: no head, hash chain only
    append(settings, "purge.planned", run_id="new", records_total=1)
    append(settings, "purge.completed", run_id="new", records_total=1)
    result = verify(settings)
    assert (result.entries, result.legacy_entries, result.head_seq) == (4, 2, 4)
    assert "4 entries (2 written before keyed MACs, checked by hash only); head #4 matches" in result.render()
    assert [e["prev"] for e in read_entries(settings.audit_log)][2] == second["hash"]


def test_legacy_entry_after_keyed_ones_is_rejected(tmp_path: Path) -> None:
    settings = _log(tmp_path)
    entries = read_entries(settings.audit_log)
    _add_line(settings.audit_log, _chained(entries[-1], "purge.completed", run_id="r2", records_total=0))
    with pytest.raises(AuditError, match="line 4 has no MAC but follows keyed entries: forged"):
        verify(settings)


def test_log_one_entry_ahead_of_its_head_verifies(tmp_path: Path) -> None:
    """Killed between appending an entry and moving the head: the entry has its MAC, the log is accepted."""
    settings = _settings(tmp_path)
    append(settings, "purge.planned", run_id="r1")
    append(settings, "purge.completed", run_id="r1")
    before = head_path(settings.audit_log).read_bytes()
    append(settings, "purge.planned", run_id="r2")
    head_path(settings.audit_log).write_bytes(before)
    result = verify(settings)
    assert (result.entries, result.head_seq) == (3, 2)
    append(settings, "purge.completed", run_id="r2")  # the next append moves the head on
    assert verify(settings).head_seq == 4


def test_first_keyed_append_anchors_the_legacy_log_before_writing(tmp_path: Path, monkeypatch) -> None:
    """Killed after the first keyed entry was written but before its head: the anchor written before it makes
    the log one entry ahead of its head, not a keyed log with no head."""
    from lethe import audit

    settings = _settings(tmp_path)
    first = _chained(None, "purge.planned", run_id="old")
    _add_line(settings.audit_log, first)
    writes = []
    real = audit._write_head

    def killed_at_second(*args: Any) -> None:
        writes.append(args[2:])
        if len(writes) == 2:
            raise SystemExit("killed")
        real(*args)

    monkeypatch.setattr(audit, "_write_head", killed_at_second)
    with pytest.raises(SystemExit):
        append(settings, "purge.completed", run_id="old")
    assert writes[0] == (1, first["hash"])
    result = verify(settings)
    assert (result.entries, result.legacy_entries, result.head_seq) == (2, 1, 1)


def _cli(home: Path, *, key: str = KEY) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LETHE_HOME": str(home), "LETHE_SECRET_KEY": key}
    return subprocess.run([sys.executable, "-m", "lethe.cli", "audit", "verify"], env=env, capture_output=True,
                          text=True, check=False)


def test_cli_audit_verify_exits_non_zero_on_tampering(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    append(settings, "purge.planned", run_id="r1", records_total=3)
    append(settings, "purge.completed", run_id="r1", records_total=3)
    ok = _cli(settings.home)
    assert ok.returncode == 0 and "2 entries" in ok.stdout and "head #2 matches" in ok.stdout
    path = settings.audit_log
    path.write_text(path.read_text().replace('"records_total":3', '"records_total":2', 1))
    bad = _cli(settings.home)
    assert bad.returncode != 0
    assert "edited" in bad.stderr and "Traceback" not in bad.stderr


def _purge_run(settings: Settings, run_id: str, status: str, keyed: bool | None = None) -> None:
    from lethe.purge import journal
    from lethe.warehouse import connect

    con = connect(settings)
    try:
        journal.ensure(con)
        con.execute("insert into lethe_meta.purge_runs (run_id, kind, created_at, as_of, policy_sha256, status, "
                    "audit_keyed) values (?, 'retention', ?, ?, 'sha', ?, ?)",
                    [run_id, datetime(2026, 1, 1), datetime(2026, 1, 1), status, keyed])
    finally:
        con.close()


@pytest.mark.parametrize("logged", [(), ("purge.planned",)])
def test_cli_cross_check_names_a_done_purge_run_missing_from_the_log(tmp_path: Path, logged: tuple) -> None:
    settings = _settings(tmp_path)
    _purge_run(settings, "r9", "done")
    append(settings, "tenant.offboarded", tenant="gone", rows=0)
    for event in logged:
        append(settings, event, run_id="r9")
    bad = _cli(settings.home)
    assert bad.returncode != 0, bad.stdout
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "purge run r9 as done" in bad.stderr and "entries removed" in bad.stderr
    if logged:
        assert "no purge.completed entry for it" in bad.stderr


def test_cross_check_abandoned_run_needs_its_entry_and_planned_one_may_lack_any(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _purge_run(settings, "r1", "done")
    _purge_run(settings, "r2", "abandoned")
    _purge_run(settings, "r3", "planned")  # killed between committing its plan and auditing it
    _purge_run(settings, "r4", "refused")
    append(settings, "purge.planned", run_id="r1")
    append(settings, "purge.completed", run_id="r1")
    append(settings, "purge.planned", run_id="r4")
    append(settings, "purge.planned", run_id="r2")
    with pytest.raises(AuditError, match="purge run r2 as abandoned but the audit log has no purge.abandoned entry"):
        verify(settings)
    append(settings, "purge.abandoned", run_id="r2")
    result = verify(settings)
    assert "warehouse: 4 purge runs, all audited but 1 planned and not audited yet" in result.render()


def test_cross_check_is_skipped_while_the_warehouse_is_in_use(tmp_path: Path) -> None:
    from lethe.warehouse import connect

    settings = _settings(tmp_path)
    _purge_run(settings, "r9", "done")
    append(settings, "purge.planned", run_id="other")
    con = connect(settings)  # another process holds the warehouse (DuckDB: one writer, no readers beside it)
    try:
        busy = _cli(settings.home)
    finally:
        con.close()
    assert busy.returncode == 0, busy.stderr
    assert "cross-check skipped, the warehouse is in use" in busy.stdout
    assert _cli(settings.home).returncode != 0  # free again: r9 has no entry


def test_a_log_stripped_of_its_macs_and_rechained_without_the_key_is_caught_by_the_warehouse(tmp_path: Path) -> None:
    """Without the key a forger can still drop every MAC, change the counts, recompute the hash chain by the pre-MAC
    rule and delete the head: the log then looked like one written before MACs, and verified. The warehouse records
    that the run was audited with MACs, so its entries without one are refused. A run journalled before MACs (no
    such record) keeps its legacy entries."""
    settings = _settings(tmp_path)
    _purge_run(settings, "r1", "done", keyed=True)
    append(settings, "purge.planned", run_id="r1", records_total=3)
    append(settings, "purge.completed", run_id="r1", records_total=3)
    assert "all audited" in verify(settings).render()

    first = _chained(None, "purge.planned", run_id="r1", records_total=0)
    second = _chained(first, "purge.completed", run_id="r1", records_total=0)
    settings.audit_log.write_text(_dump(first) + "\n" + _dump(second) + "\n")
    head_path(settings.audit_log).unlink()
    with pytest.raises(AuditError, match="line 1 has no MAC, but the warehouse records purge run r1 as audited with "
                                         "keyed MACs: rewritten without the key"):
        verify(settings)

    old = _settings(tmp_path / "old")
    _purge_run(old, "r0", "done")
    first = _chained(None, "purge.planned", run_id="r0", records_total=2)
    _add_line(old.audit_log, first)
    _add_line(old.audit_log, _chained(first, "purge.completed", run_id="r0", records_total=2))
    assert verify(old).legacy_entries == 2
