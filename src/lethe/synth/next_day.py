"""One more day of landing data for existing subjects: each tenant's latest day of SendGrid events and contact
records, replayed a given number of days later with fresh ids, in new files in the same formats."""

from __future__ import annotations

import gzip
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


@dataclass(frozen=True)
class NextDay:
    """What was written: the day, the new files, and the records in them per dataset."""

    day: date
    files: tuple[Path, ...]
    email_events: int
    contact_records: int


def _read(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()


def _latest(folder: Path, pattern: str) -> Path | None:
    files = sorted(folder.rglob(pattern), key=lambda p: p.name.removesuffix(".gz"))
    return files[-1] if files else None


def _file_day(path: Path) -> date:
    digits = re.sub(r"\D", "", path.name.split(".")[0])
    return datetime.strptime(digits[-8:], "%Y%m%d").replace(tzinfo=UTC).date()


def _shift(value: Any, delta: timedelta) -> Any:
    """Every ISO 8601 UTC timestamp in a contact record, moved by delta (recursively)."""
    if isinstance(value, dict):
        return {k: _shift(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, delta) for v in value]
    if isinstance(value, str) and _ISO.match(value):
        moved = datetime.fromisoformat(value.replace("Z", "+00:00")) + delta
        return moved.strftime("%Y-%m-%dT%H:%M:%S") + ("." + value.split(".")[1] if "." in value else "Z")
    return value


def _email_events(tenant: Path, day: date) -> tuple[Path | None, int]:
    latest = _latest(tenant / "email_events", "*.json*")
    if latest is None:
        return None, 0
    delta = day - _file_day(latest)
    suffix = f"-{day:%Y%m%d}"
    events = json.loads(_read(latest))
    for event in events:
        event["timestamp"] = int(event["timestamp"]) + int(delta.total_seconds())
        event["sg_event_id"] = f"{event['sg_event_id']}{suffix}"
        if event.get("sg_message_id"):
            event["sg_message_id"] = f"{event['sg_message_id']}{suffix}"
    out = tenant / "email_events" / f"{day:%Y}" / f"{day:%m}" / f"webhook-{day:%Y%m%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("[" + ",\n".join(json.dumps(e, separators=(",", ":")) for e in events) + "]\n")
    return out, len(events)


def _contact_records(tenant: Path, day: date) -> tuple[Path | None, int]:
    latest = _latest(tenant / "contact_records", "*.jsonl*")
    if latest is None:
        return None, 0
    delta = day - _file_day(latest)
    lines = []
    for line in _read(latest).splitlines():
        if not line.strip():
            continue
        record = _shift(json.loads(line), delta)
        new_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{record['ContactId']}:{day.isoformat()}"))
        for key in ("ContactId", "InitialContactId"):
            if record.get(key):
                record[key] = new_id
        record.pop("Recording", None)  # no audio file is delivered for the replayed day
        lines.append(json.dumps(record, separators=(",", ":")))
    out = tenant / "contact_records" / f"{day:%Y}" / f"{day:%m}" / f"{day:%Y-%m-%d}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out, len(lines)


def write_next_day(landing: Path, day: date) -> NextDay:
    """Write `day`'s SendGrid events and contact records for every tenant folder of `landing`."""
    files: list[Path] = []
    emails = calls = 0
    for tenant in sorted(p for p in landing.iterdir() if p.is_dir() and not p.name.startswith("_")):
        path, n = _email_events(tenant, day)
        if path is not None:
            files.append(path)
            emails += n
        path, n = _contact_records(tenant, day)
        if path is not None:
            files.append(path)
            calls += n
    return NextDay(day=day, files=tuple(files), email_events=emails, contact_records=calls)
