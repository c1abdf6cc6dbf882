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


def parse_as_of(value: str | None) -> datetime:
    """Parse an ISO 8601 instant into an aware UTC datetime; None means now."""
    if value is None or value == "":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--as-of / LETHE_AS_OF: {value!r} is not an ISO 8601 date or time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Settings:
    """Where state lives and the instant rules are judged at."""

    home: Path
    landing: Path
    tenants_file: Path
    as_of: datetime
    secret_key_env: str | None
    dashboard_users: Path = PROJECT_ROOT / "config" / "users.yml"

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
        value = as_of if isinstance(as_of, datetime) else parse_as_of(as_of)
        return replace(self, as_of=value.astimezone(UTC))


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (os.environ by default)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("LETHE_HOME") or Path.cwd() / ".lethe").resolve()
    landing = Path(env["LETHE_LANDING"]).resolve() if env.get("LETHE_LANDING") else home / "landing"
    tenants = Path(env["LETHE_TENANTS"]).resolve() if env.get("LETHE_TENANTS") else DEFAULT_TENANTS_FILE
    return Settings(
        home=home,
        landing=landing,
        tenants_file=tenants,
        as_of=parse_as_of(env.get("LETHE_AS_OF")),
        secret_key_env=env.get("LETHE_SECRET_KEY") or None,
        dashboard_users=Path(env["LETHE_DASHBOARD_USERS"]).resolve()
        if env.get("LETHE_DASHBOARD_USERS")
        else PROJECT_ROOT / "config" / "users.yml",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
