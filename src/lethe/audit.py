"""Append-only, hash-chained audit log of purges and erasures (JSONL; subject keys only, never personal data)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lethe.errors import LetheError

log = logging.getLogger(__name__)

GENESIS = "0" * 64


class AuditError(LetheError):
    """The audit log's hash chain is broken (an entry was edited, removed or reordered)."""


def _entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _last_hash(path: Path) -> tuple[str, int]:
    if not path.exists() or path.stat().st_size == 0:
        return GENESIS, 0
    with path.open("rb") as fh:
        lines = [line for line in fh.read().splitlines() if line.strip()]
    if not lines:
        return GENESIS, 0
    try:
        last = json.loads(lines[-1])
        return str(last["hash"]), int(last["seq"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise AuditError(
            f"{path}: its last line ({len(lines)}) is not a complete entry (a write cut short by a crash, or an "
            "edit): nothing can be chained to it, so nothing was done; `lethe audit verify` checks the rest. A "
            "line cut short by a crash was never completed: move the log aside, or remove that line, and run again"
        ) from None


def check_appendable(path: Path) -> None:
    """Raise AuditError (one line) when the log's last line is not a complete entry: a run must refuse before it
    plans or changes anything, not fail half way when it first writes to the log."""
    _last_hash(path)


def append(path: Path, event: str, **fields: Any) -> dict[str, Any]:
    """Append one entry chained to the previous one; fsync so a crash never loses an acknowledged entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prev, seq = _last_hash(path)
    entry: dict[str, Any] = {
        "seq": seq + 1,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "event": event,
        **fields,
        "prev": prev,
    }
    entry["hash"] = _entry_hash(entry)
    line = json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("audit %s #%d", event, entry["seq"])
    return entry


def read_entries(path: Path) -> list[dict[str, Any]]:
    """Every entry of the log, in order (no check; see verify_chain)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def verify_chain(path: Path) -> int:
    """Check every entry's hash and its link to the previous one; return the entry count or raise AuditError."""
    if not path.exists():
        return 0
    prev = GENESIS
    count = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AuditError(f"{path}: line {number} is not valid JSON (log tampered with)") from None
        if entry.get("prev") != prev:
            raise AuditError(f"{path}: line {number} does not chain to the entry before it (entry removed or reordered)")
        if entry.get("hash") != _entry_hash(entry):
            raise AuditError(f"{path}: line {number} was edited (its hash does not match its content)")
        if entry.get("seq") != count + 1:
            raise AuditError(f"{path}: line {number} has sequence {entry.get('seq')}, expected {count + 1}")
        prev = entry["hash"]
        count += 1
    return count
