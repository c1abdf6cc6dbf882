"""Who logged in, failed to, or logged out, kept in $LETHE_HOME/audit/dashboard_logins.jsonl, and what follows from it:
a user locked after too many failed passwords, and login cookies revoked by logging out.

The login cookie is a signed token (streamlit-authenticator) valid for `cookie.expiry_days`; the browser's copy is
deleted at logout, but a copy taken before stays valid until it expires unless the server refuses it: a token
issued at or before the user's last logout is refused here. Logging out thus ends every session of that user.

A line is {"at", "event", "user"}: event login | login_failed | login_locked | logout; `user` is a username of the
users file, or null when the name typed is nobody's (it may be anything, an email even: it is not kept).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lethe.fsutil import append_line
from lethe.settings import get_settings

MAX_FAILURES = 5  # failed passwords in a row for one user ...
LOCK_MINUTES = 15  # ... lock that user for this long after the last of them


def log_path() -> Path:
    return get_settings().home / "audit" / "dashboard_logins.jsonl"


def record(event: str, user: str | None, now: datetime | None = None) -> None:
    """Append one line (one O_APPEND write, fsync'd: lines of concurrent sessions never interleave)."""
    entry = {"at": (now or datetime.now(UTC)).isoformat(), "event": event, "user": user}
    append_line(log_path(), json.dumps(entry, sort_keys=True))


def _events(user: str) -> list[tuple[datetime, str]]:
    """The user's events, oldest first (a line that does not parse is skipped: it cannot lock anyone out)."""
    path = log_path()
    if not path.is_file():
        return []
    out = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
                if entry.get("user") == user:
                    out.append((datetime.fromisoformat(entry["at"]), str(entry["event"])))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
    return out


def locked_until(user: str, now: datetime | None = None) -> datetime | None:
    """When `user` may try again, or None: after MAX_FAILURES failed passwords with no login between them, the
    user is locked until LOCK_MINUTES after the last of them (attempts while locked are not counted)."""
    failures: list[datetime] = []
    for at, event in _events(user):
        if event == "login":
            failures = []
        elif event == "login_failed":
            failures.append(at)
    if len(failures) < MAX_FAILURES:
        return None
    until = failures[-1] + timedelta(minutes=LOCK_MINUTES)
    return until if until > (now or datetime.now(UTC)) else None


def revoked(token: dict, expiry_days: float) -> bool:
    """Whether a login cookie's token was issued at or before its user's last logout (streamlit-authenticator's
    token holds the user and its expiry; it was issued `expiry_days` before that)."""
    try:
        user = str(token["username"])
        issued = datetime.fromtimestamp(float(token["exp_date"]), UTC) - timedelta(days=expiry_days)
    except (KeyError, TypeError, ValueError, OverflowError):
        return True
    logouts = [at for at, event in _events(user) if event == "logout"]
    return bool(logouts) and issued <= max(logouts)
