"""The tenant policy file (CONTRACT section 3): load, validate, and apply defaults."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lethe.errors import PolicyError

DEFAULT_RETENTION_DAYS: dict[str, int] = {
    "interaction.recording": 90,
    "interaction.transcript": 180,
    "interaction.metadata": 730,
    "campaign.event": 395,
    "crm.contact": 1095,
}
# each category in words, short enough for a chart's legend: the dashboard's and the access report's name for it
CATEGORY_WORDS: dict[str, str] = {
    "interaction.recording": "Call recordings",
    "interaction.transcript": "Chat transcripts",
    "interaction.metadata": "Call and chat records",
    "campaign.event": "Email events",
    "crm.contact": "Customer records",
}
DEFAULT_DSR_SLA_DAYS = 30
DEFAULT_CONSENT_REFRESH_DAYS = 730
DEFAULT_PURGE_MAX_SHARE = 0.25
# The longest period the file may give (100 years): longer is no retention a contact centre's data needs, only a
# typo, and from about 10^8 days on the dates it gives leave the range a timestamp holds
MAX_DAYS = 36_525
RESERVED_TENANTS = {"_centre"}
_KNOWN_KEYS = {"controller", "dsr_sla_days", "consent_refresh_days", "retention", "purge_max_share"}


@dataclass(frozen=True)
class TenantPolicy:
    """One tenant's policy, defaults applied."""

    tenant_id: str
    controller: str
    dsr_sla_days: int = DEFAULT_DSR_SLA_DAYS
    consent_refresh_days: int = DEFAULT_CONSENT_REFRESH_DAYS
    retention: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_RETENTION_DAYS))
    purge_max_share: float = DEFAULT_PURGE_MAX_SHARE


@dataclass(frozen=True)
class Policy:
    """Every tenant's policy plus the file's content hash (the purge checks it did not change)."""

    path: Path
    sha256: str
    tenants: dict[str, TenantPolicy]

    def tenant(self, tenant_id: str) -> TenantPolicy:
        from lethe.errors import UnknownTenantError

        try:
            return self.tenants[tenant_id]
        except KeyError:
            known = ", ".join(sorted(self.tenants)) or "none"
            raise UnknownTenantError(
                f"unknown tenant {tenant_id!r} (tenants in {self.path}: {known})"
            ) from None

    def retention_rows(self) -> list[tuple[str, str, int]]:
        """(tenant_id, data_category, days) for every tenant and category."""
        return [
            (t.tenant_id, category, days)
            for t in self.tenants.values()
            for category, days in sorted(t.retention.items())
        ]


def _days(path: Path, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise PolicyError(f"{path}: {key} must be a whole number of days from 0 to {MAX_DAYS} (100 years), "
                          f"got {value!r}")
    return value


def is_folder_name(tenant_id: object) -> bool:
    """True when a tenant id can name a folder of the landing zone (no path separator, not hidden or '..')."""
    return isinstance(tenant_id, str) and bool(tenant_id) and "/" not in tenant_id and not tenant_id.startswith(".")


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, mark: yaml.Mark) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key, self.problem_mark = key, mark


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping: YAML keeps the last silently, so a tenant listed
    twice would lose its first block, and a category given twice its first retention, without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_policy(path: Path) -> Policy:
    """Read and validate the tenant policy file; raise PolicyError naming the offending key."""
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"{path}: tenant policy file not found (set LETHE_TENANTS)") from None
    try:
        doc = yaml.load(raw_bytes, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise PolicyError(f"{path}: line {exc.problem_mark.line + 1}: {exc.key!r} is given twice") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise PolicyError(f"{path}: not valid YAML{where}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tenants"), dict) or not doc["tenants"]:
        raise PolicyError(f"{path}: expected a mapping 'tenants:' with at least one tenant")
    tenants: dict[str, TenantPolicy] = {}
    for tenant_id, body in doc["tenants"].items():
        where = f"tenants.{tenant_id}"
        if not is_folder_name(tenant_id):
            raise PolicyError(f"{path}: {where}: tenant id must be a folder name")
        if tenant_id in RESERVED_TENANTS:
            raise PolicyError(f"{path}: {where}: '{tenant_id}' is reserved for the contact centre's own data")
        if not isinstance(body, dict):
            raise PolicyError(f"{path}: {where} must be a mapping")
        unknown = set(body) - _KNOWN_KEYS
        if unknown:
            raise PolicyError(f"{path}: {where}.{sorted(unknown)[0]}: unknown key")
        controller = body.get("controller")
        if not isinstance(controller, str) or not controller.strip():
            raise PolicyError(f"{path}: {where}.controller: missing (name the data controller)")
        retention = dict(DEFAULT_RETENTION_DAYS)
        given = body.get("retention") or {}
        if not isinstance(given, dict):
            raise PolicyError(f"{path}: {where}.retention must be a mapping of category: days")
        for category, days in given.items():
            if category not in DEFAULT_RETENTION_DAYS:
                known = ", ".join(DEFAULT_RETENTION_DAYS)
                raise PolicyError(f"{path}: {where}.retention.{category}: unknown category (known: {known})")
            retention[category] = _days(path, f"{where}.retention.{category}", days)
        share = body.get("purge_max_share", DEFAULT_PURGE_MAX_SHARE)
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise PolicyError(f"{path}: {where}.purge_max_share must be a number from 0 to 1, got {share!r}")
        tenants[tenant_id] = TenantPolicy(
            tenant_id=tenant_id,
            controller=controller.strip(),
            dsr_sla_days=_days(path, f"{where}.dsr_sla_days", body.get("dsr_sla_days", DEFAULT_DSR_SLA_DAYS)),
            consent_refresh_days=_days(
                path, f"{where}.consent_refresh_days", body.get("consent_refresh_days", DEFAULT_CONSENT_REFRESH_DAYS)
            ),
            retention=retention,
            purge_max_share=float(share),
        )
    return Policy(path=path, sha256=hashlib.sha256(raw_bytes).hexdigest(), tenants=tenants)
