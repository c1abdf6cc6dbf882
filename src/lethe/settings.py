"""Settings, read once from the environment (CONTRACT section 1). Nothing else reads os.environ."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from lethe.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = PROJECT_ROOT / "data_contracts"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DASHBOARD_DIR = PROJECT_ROOT / "dashboards"
DEFAULT_TENANTS_FILE = PROJECT_ROOT / "config" / "tenants.yml"


AS_OF_YEARS = (1900, 9998)  # retention, SLA and consent arithmetic must stay inside what a timestamp holds


def parse_as_of(value: str | None, source: str = "--as-of / LETHE_AS_OF") -> datetime:
    """Parse an ISO 8601 instant into an aware UTC datetime; None means now. `source` names where it came from."""
    if value is None or value == "":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except ValueError:
        raise ConfigError(f"{source}: {value!r} is not an ISO 8601 date or time") from None
    except OverflowError:
        parsed = None
    if parsed is None or not AS_OF_YEARS[0] <= parsed.year <= AS_OF_YEARS[1]:
        raise ConfigError(f"{source}: {value!r} is out of range (years {AS_OF_YEARS[0]} to {AS_OF_YEARS[1]})")
    return parsed


@dataclass(frozen=True)
class Settings:
    """Where state lives and the instant rules are judged at."""

    home: Path
    landing: Path
    tenants_file: Path
    as_of: datetime
    secret_key_env: str | None
    dashboard_users: Path = PROJECT_ROOT / "config" / "users.yml"
    as_of_given: bool = False  # named by --as-of or LETHE_AS_OF (else: now)

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def snapshot_dir(self) -> Path:
        return self.home / "snapshot"

    @property
    def snapshot(self) -> Path:
        return self.snapshot_dir / "current.duckdb"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def audit_log(self) -> Path:
        return self.home / "audit" / "audit.jsonl"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def secret_key(self) -> bytes:
        """LETHE_SECRET_KEY, or a key generated once into $LETHE_HOME with mode 0600."""
        if self.secret_key_env:
            return self.secret_key_env.encode()
        path = self.home / "secret.key"
        if not path.exists():
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    def with_as_of(self, as_of: str | datetime | None) -> Settings:
        """The same settings judged at another instant (a --as-of flag wins over LETHE_AS_OF)."""
        if as_of is None:
            return self
        value = as_of if isinstance(as_of, datetime) else parse_as_of(as_of, "--as-of")
        return replace(self, as_of=value.astimezone(UTC), as_of_given=True)


def load_settings(environ: dict[str, str] | None = None, as_of: str | None = None) -> Settings:
    """Build settings from an environment mapping (os.environ by default); `as_of` (a --as-of flag) wins over
    LETHE_AS_OF, which is then not read at all."""
    env = os.environ if environ is None else environ
    given = as_of if as_of is not None else env.get("LETHE_AS_OF")
    home = Path(env.get("LETHE_HOME") or Path.cwd() / ".lethe").resolve()
    landing = Path(env["LETHE_LANDING"]).resolve() if env.get("LETHE_LANDING") else home / "landing"
    tenants = Path(env["LETHE_TENANTS"]).resolve() if env.get("LETHE_TENANTS") else DEFAULT_TENANTS_FILE
    return Settings(
        home=home,
        landing=landing,
        tenants_file=tenants,
        as_of=parse_as_of(given, "--as-of" if as_of is not None else "LETHE_AS_OF"),
        secret_key_env=env.get("LETHE_SECRET_KEY") or None,
        dashboard_users=Path(env["LETHE_DASHBOARD_USERS"]).resolve()
        if env.get("LETHE_DASHBOARD_USERS")
        else PROJECT_ROOT / "config" / "users.yml",
        as_of_given=bool(given),
    )


def command_settings(as_of: str | None) -> Settings:
    """The settings of one command: the process-wide ones, or, with a --as-of flag, the environment's judged at
    that instant (a LETHE_AS_OF the flag overrides is not parsed, so a stale or bad one cannot fail the command)."""
    return get_settings() if as_of is None else load_settings(as_of=as_of)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
