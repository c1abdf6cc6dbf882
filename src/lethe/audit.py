"""Append-only audit log of purges and erasures (JSONL; subject keys only, never personal data).

Each entry is chained to the one before it by sha256 (`seq`, `prev`, `hash`: an edit, a removal or a reordering
breaks the chain) and carries `mac`, an HMAC-SHA256 of the entry keyed with a key derived from the installation
secret (LETHE_SECRET_KEY): without the key nobody can write an entry that verifies, so a forged entry appended
at the end, or a log rewritten from scratch with a valid chain, is caught. After every append `audit.head`
(next to the log) records the last entry's `seq` and `hash` under its own MAC: a log cut short (its last
entries deleted), wiped, or with its head deleted is caught too. `verify` also checks that every purge run the
warehouse journals (lethe_meta.purge_runs) is in the log. Entries written before keyed MACs (no `mac`) are
accepted as a prefix only, checked by their hash chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lethe.errors import LetheError
from lethe.fsutil import append_line
from lethe.settings import Settings

log = logging.getLogger(__name__)

GENESIS = "0" * 64
HEAD_NAME = "audit.head"
_KEY_CONTEXT = b"lethe-audit-v1"
_RESERVED = ("seq", "at", "event", "prev", "hash", "mac")
_WRONG_KEY = "edited or forged, or LETHE_SECRET_KEY is not the key this log was written with"


class AuditError(LetheError):
    """The audit log was tampered with: an entry edited, forged, removed or reordered, the log cut short or
    wiped, or its head removed (or the key is not the one the log was written with)."""


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def _entry_hash(entry: dict[str, Any]) -> str:
    """sha256 of the entry without its `hash` and `mac` (for an entry without `mac`: the pre-MAC rule)."""
    return hashlib.sha256(_canonical({k: v for k, v in entry.items() if k not in ("hash", "mac")})).hexdigest()


def audit_key(settings: Settings) -> bytes:
    """The log's MAC key, derived from the installation secret (never the secret itself)."""
    return hmac.new(settings.secret_key, _KEY_CONTEXT, hashlib.sha256).digest()


def _entry_mac(key: bytes, entry: dict[str, Any]) -> str:
    return hmac.new(key, _canonical({k: v for k, v in entry.items() if k != "mac"}), hashlib.sha256).hexdigest()


def _head_mac(key: bytes, seq: int, entry_hash: str) -> str:
    # its own domain ("head:"), so no entry's mac can be passed off as a head's
    return hmac.new(key, b"head:" + f"{seq}:{entry_hash}".encode(), hashlib.sha256).hexdigest()


def head_path(path: Path) -> Path:
    """The head file of the log at `path` (audit/audit.head)."""
    return path.with_name(HEAD_NAME)


def _lines(path: Path) -> list[bytes]:
    """The log's non-blank lines (entry n is line n - 1 of this list in an intact log)."""
    if not path.exists():
        return []
    with path.open("rb") as fh:
        return [line for line in fh.read().splitlines() if line.strip()]


def _last(path: Path, lines: list[bytes]) -> dict[str, Any] | None:
    if not lines:
        return None
    try:
        last = json.loads(lines[-1])
        str(last["hash"])
        int(last["seq"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise AuditError(
            f"{path}: its last line ({len(lines)}) is not a complete entry (a write cut short by a crash, or an "
            "edit): nothing can be chained to it, so nothing was done; `lethe audit verify` checks the rest. A "
            "line cut short by a crash was never completed: move the log aside, or remove that line, and run again"
        ) from None
    if not isinstance(last, dict):
        raise AuditError(f"{path}: its last line ({len(lines)}) is not an entry")
    return last


@dataclass(frozen=True)
class _Head:
    seq: int
    hash: str
    mac_head: str


def _read_head(path: Path) -> _Head | None:
    """The head of the log at `path`, None when there is none; AuditError when it is not a head."""
    head_file = head_path(path)
    try:
        doc = json.loads(head_file.read_bytes())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AuditError(f"{head_file}: not a valid audit head (edited or damaged)") from None
    try:
        head = _Head(int(doc["seq"]), str(doc["hash"]), str(doc["mac_head"]))
    except (KeyError, TypeError, ValueError):
        raise AuditError(f"{head_file}: not a valid audit head (edited or damaged)") from None
    if head.seq < 0:
        raise AuditError(f"{head_file}: not a valid audit head (edited or damaged)")
    return head


def _same(given: object, expected: str) -> bool:
    """Constant-time comparison of a MAC read from disk (any JSON value) with the expected hex digest."""
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def _check_head(
    path: Path, lines: Sequence[bytes | dict[str, Any]], last: dict[str, Any] | None, key: bytes | None
) -> _Head | None:
    """Check the head against the log's entries (raw lines or parsed entries, in order) and, given the key, its
    MAC; return it, or None when there is none."""
    head_file = head_path(path)
    head = _read_head(path)
    if head is None:
        if last is not None and "mac" in last:
            raise AuditError(
                f"{head_file}: missing, but {path} has keyed entries: the head was removed, so the end of the "
                "log cannot be vouched for (entries may have been removed after it)"
            )
        return None
    if key is not None and not _same(head.mac_head, _head_mac(key, head.seq, head.hash)):
        raise AuditError(f"{head_file}: its MAC does not match: {_WRONG_KEY}")
    if head.seq == 0:  # the anchor written before the very first entry
        if head.hash != GENESIS:
            raise AuditError(f"{head_file}: not a valid audit head (edited or damaged)")
        return head
    if not lines:
        raise AuditError(
            f"{path}: {'empty' if path.exists() else 'missing'}, but {head_file.name} records entry #{head.seq}: "
            "the log was wiped"
        )
    if head.seq > len(lines):
        raise AuditError(
            f"{path}: ends at entry #{len(lines)} but {head_file.name} records #{head.seq}: entries after "
            f"#{len(lines)} were removed (truncated)"
        )
    entry: object = lines[head.seq - 1]
    if isinstance(entry, bytes):
        try:
            entry = json.loads(entry)
        except (json.JSONDecodeError, UnicodeDecodeError):
            entry = None
    if not isinstance(entry, dict) or entry.get("seq") != head.seq or entry.get("hash") != head.hash:
        raise AuditError(
            f"{path}: entry #{head.seq} is not the one {head_file.name} records: the log was rewritten, or entries "
            f"after #{head.seq} were removed (truncated)"
        )
    return head


def _write_head(path: Path, key: bytes, seq: int, entry_hash: str) -> None:
    """Atomically replace the head (temp file, fsync, rename, fsync the folder)."""
    head_file = head_path(path)
    doc = {"seq": seq, "hash": entry_hash, "mac_head": _head_mac(key, seq, entry_hash)}
    tmp = head_file.with_name(f".{HEAD_NAME}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (json.dumps(doc, sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, head_file)
    try:
        dir_fd = os.open(head_file.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def check_appendable(path: Path) -> None:
    """Raise AuditError (one line) when nothing can be appended to the log: its last line is not a complete
    entry, or its head says entries were removed (or the head itself was): a run must refuse before it plans or
    changes anything, not fail half way when it first writes to the log. (The head's MAC is checked by `append`,
    which has the key.)"""
    lines = _lines(path)
    _check_head(path, lines, _last(path, lines), None)


def append(settings: Settings, event: str, **fields: Any) -> dict[str, Any]:
    """Append one entry (chained to the previous one, with its MAC) to `settings.audit_log`, fsync it, then
    move the head to it. Refuses (AuditError, nothing written) a log whose head says it was cut short."""
    clash = sorted(set(fields) & set(_RESERVED))
    if clash:
        raise ValueError(f"audit fields {clash} are reserved")
    path = settings.audit_log
    key = audit_key(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = _lines(path)
    last = _last(path, lines)
    head = _check_head(path, lines, last, key)
    prev, seq = (str(last["hash"]), int(last["seq"])) if last is not None else (GENESIS, 0)
    if head is None:
        # the first keyed entry: anchor the log as it is first, so no crash can leave keyed entries with no head
        _write_head(path, key, seq, prev)
    entry: dict[str, Any] = {
        "seq": seq + 1,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "event": event,
        **fields,
        "prev": prev,
    }
    entry["hash"] = _entry_hash(entry)
    entry["mac"] = _entry_mac(key, entry)
    append_line(path, json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str))
    # killed here, the log is one entry ahead of its head: verify accepts that (the entry has its MAC)
    _write_head(path, key, entry["seq"], entry["hash"])
    log.info("audit %s #%d", event, entry["seq"])
    return entry


def read_entries(path: Path) -> list[dict[str, Any]]:
    """Every entry of the log, in order (no check; see verify)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _chain(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, entry) for every entry, checking each one's hash, its link to the previous one and its
    sequence number; AuditError naming the line otherwise."""
    if not path.exists():
        return []
    prev = GENESIS
    out: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AuditError(f"{path}: line {number} is not valid JSON (log tampered with)") from None
        if not isinstance(entry, dict):
            raise AuditError(f"{path}: line {number} is not an entry (log tampered with)")
        if entry.get("prev") != prev:
            raise AuditError(f"{path}: line {number} does not chain to the entry before it (entry removed or reordered)")
        if entry.get("hash") != _entry_hash(entry):
            raise AuditError(f"{path}: line {number} was edited (its hash does not match its content)")
        if entry.get("seq") != len(out) + 1:
            raise AuditError(f"{path}: line {number} has sequence {entry.get('seq')}, expected {len(out) + 1}")
        prev = entry["hash"]
        out.append((number, entry))
    return out


def verify_chain(path: Path) -> int:
    """Check the hash chain only (every entry's hash, its link to the previous one, its sequence number); return
    the entry count or raise AuditError. Without the key this cannot catch a forged or removed last entry:
    `verify` does."""
    return len(_chain(path))


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` checked."""

    entries: int
    legacy_entries: int  # written before keyed MACs: checked by their hash chain only
    head_seq: int | None  # the entry the head records (None: no head, a log from before keyed MACs)
    cross_check: str  # what the warehouse cross-check found, or why it was skipped

    def render(self) -> str:
        if not self.entries and self.head_seq is None:  # no purge has written to it yet (the cross-check says so)
            return f"audit log empty: no purge has run yet; {self.cross_check}"
        text = f"audit log intact: {self.entries} entries"
        if self.legacy_entries:
            text += f" ({self.legacy_entries} written before keyed MACs, checked by hash only)"
        if self.head_seq is None:
            text += "; no head yet (a log from before keyed MACs: its end cannot be vouched for)"
        else:
            text += f"; head #{self.head_seq} matches"
            if self.entries > self.head_seq:
                ahead = self.entries - self.head_seq
                text += f" ({ahead} later {'entry' if ahead == 1 else 'entries'}, written before a crash moved it)"
        return f"{text}; {self.cross_check}"


def _key_for(settings: Settings, path: Path) -> bytes:
    """The MAC key, without generating a new secret into the home (which could verify nothing)."""
    if not settings.secret_key_env and not (settings.home / "secret.key").exists():
        raise AuditError(
            f"{path}: written with keyed MACs, but LETHE_SECRET_KEY is not set and {settings.home / 'secret.key'} "
            "is missing: set the key this log was written with"
        )
    return audit_key(settings)


def verify(settings: Settings) -> VerifyResult:
    """Check the whole log: the hash chain, every entry's MAC (legacy entries without one only as a prefix),
    the head (nothing removed from the end, the log not wiped, the head not removed), then that every purge
    run the warehouse journals has its entries. Raise AuditError (one line) on any failure."""
    path = settings.audit_log
    chain = _chain(path)
    head_exists = head_path(path).exists()
    key = _key_for(settings, path) if head_exists or any("mac" in e for _, e in chain) else None
    legacy = 0
    keyed = False
    for number, entry in chain:
        if "mac" in entry:
            keyed = True
            assert key is not None
            if not _same(entry["mac"], _entry_mac(key, entry)):
                raise AuditError(f"{path}: line {number} has a MAC that does not match: {_WRONG_KEY}")
        elif keyed:
            raise AuditError(
                f"{path}: line {number} has no MAC but follows keyed entries: forged (only entries written before "
                "keyed MACs may lack one)"
            )
        else:
            legacy += 1
    entries = [entry for _, entry in chain]
    head = _check_head(path, entries, entries[-1] if entries else None, key)
    if head is not None:
        unkeyed = [number for number, entry in chain[head.seq:] if "mac" not in entry]
        if unkeyed:
            raise AuditError(
                f"{path}: line {unkeyed[0]} has no MAC but comes after the head (#{head.seq}): forged"
            )
    return VerifyResult(len(chain), legacy, head.seq if head else None, _cross_check(settings, chain))


def _cross_check(settings: Settings, chain: list[tuple[int, dict[str, Any]]]) -> str:
    """Every purge run in lethe_meta.purge_runs must be in the log: a done run with its purge.completed, an
    abandoned one with its purge.abandoned (each audited before the status is set), any other with at least
    its purge.planned, except a run still 'planned': killed between committing its plan and auditing it, it is
    audited as abandoned by the next purge. (A refused run is marked refused before purge.refused is written,
    so only its purge.planned is required.)"""
    import duckdb

    from lethe import catalog
    from lethe.errors import WarehouseBusyError
    from lethe.warehouse import connect

    if not settings.warehouse.exists():
        return "warehouse: none yet, no purge runs to cross-check"
    try:
        con = connect(settings, read_only=True)
    except WarehouseBusyError:  # connect names a warehouse another process holds so
        return "warehouse: cross-check skipped, the warehouse is in use by another process (run again when it is free)"
    except duckdb.Error as exc:
        raise LetheError(f"{settings.warehouse}: cannot be read to cross-check the audit log ({exc})") from None
    try:
        if not catalog.table_exists(con, "lethe_meta", "purge_runs"):
            return "warehouse: no purge runs journalled"
        keyed = "audit_keyed" if "audit_keyed" in catalog.columns(con, "lethe_meta", "purge_runs") else "null"
        runs = con.execute(f"select run_id, status, coalesce({keyed}, false) from lethe_meta.purge_runs "  # noqa: S608
                           "order by created_at, run_id").fetchall()
    finally:
        con.close()
    events: dict[str, set[str]] = {}
    unkeyed: dict[str, int] = {}  # run id -> the first line of it without a MAC
    for number, entry in chain:
        if entry.get("run_id") is not None:
            events.setdefault(str(entry["run_id"]), set()).add(str(entry.get("event")))
            if "mac" not in entry:
                unkeyed.setdefault(str(entry["run_id"]), number)
    required = {"done": "purge.completed", "abandoned": "purge.abandoned"}
    pending = 0
    for run_id, status, keyed_run in runs:
        if keyed_run and str(run_id) in unkeyed:
            raise AuditError(
                f"{settings.audit_log}: line {unkeyed[str(run_id)]} has no MAC, but the warehouse records purge run "
                f"{run_id} as audited with keyed MACs: rewritten without the key"
            )
        seen = events.get(str(run_id), set())
        if not seen:
            if status == "planned":
                pending += 1
                continue
            raise AuditError(
                f"{settings.audit_log}: the warehouse records purge run {run_id} as {status} but the audit log has "
                "no entry for it: entries removed"
            )
        need = required.get(status)
        if need is not None and need not in seen:
            raise AuditError(
                f"{settings.audit_log}: the warehouse records purge run {run_id} as {status} but the audit log has "
                f"no {need} entry for it: entries removed"
            )
    text = f"warehouse: {len(runs)} purge run{'' if len(runs) == 1 else 's'}"
    if not pending:
        return f"{text} all audited"
    return (f"{text}, all audited but {pending} planned and not audited yet (interrupted before its plan was "
            "audited; the next purge abandons it)")
