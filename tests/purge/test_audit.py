"""The audit log: hash-chained, append-only, and `lethe audit verify` catches any tampering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lethe.audit import AuditError, append, read_entries, verify_chain


def _log(tmp_path: Path) -> Path:
    path = tmp_path / "audit" / "audit.jsonl"
    append(path, "purge.planned", run_id="r1", counts=[{"tenant": "t", "record_count": 3}], records_total=3)
    append(path, "purge.completed", run_id="r1", records_total=3)
    append(path, "purge.planned", run_id="r2", records_total=0)
    return path


def test_intact_log_verifies_with_its_entry_count(tmp_path: Path) -> None:
    path = _log(tmp_path)
    assert verify_chain(path) == 3
    entries = read_entries(path)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[1]["prev"] == entries[0]["hash"]


def test_edited_count_is_detected(tmp_path: Path) -> None:
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["records_total"] = 1  # someone hides two erased records
    lines[0] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditError, match="line 1 was edited"):
        verify_chain(path)


def test_removed_entry_is_detected(tmp_path: Path) -> None:
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    with pytest.raises(AuditError, match="line 2 does not chain"):
        verify_chain(path)


def test_cli_audit_verify_exits_non_zero_on_tampering(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = home / "audit" / "audit.jsonl"
    append(path, "purge.planned", run_id="r1", records_total=3)
    append(path, "purge.completed", run_id="r1", records_total=3)
    env = {**os.environ, "LETHE_HOME": str(home)}
    cli = [sys.executable, "-m", "lethe.cli", "audit", "verify"]
    ok = subprocess.run(cli, env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "2 entries" in ok.stdout
    path.write_text(path.read_text().replace('"records_total":3', '"records_total":2', 1))
    bad = subprocess.run(cli, env=env, capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    assert "edited" in bad.stderr and "Traceback" not in bad.stderr
