"""What `lethe generate` wrote: records and files per tenant and source family."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SourceCount:
    """Records and files written for one (tenant, source) pair."""

    tenant_id: str
    source: str
    records: int
    files: int


@dataclass(frozen=True)
class GenerateSummary:
    """Per-tenant, per-source counts of a generated landing zone, plus where it is."""

    out: Path
    policy_file: Path
    subjects: int
    counts: tuple[SourceCount, ...]

    def get(self, tenant_id: str, source: str) -> SourceCount:
        """The count for one tenant and source (zero if nothing was written)."""
        for c in self.counts:
            if c.tenant_id == tenant_id and c.source == source:
                return c
        return SourceCount(tenant_id, source, 0, 0)

    @property
    def total_files(self) -> int:
        return sum(c.files for c in self.counts)

    def render(self) -> str:
        """A short human table."""
        sources = list(dict.fromkeys(c.source for c in self.counts))
        tenants = list(dict.fromkeys(c.tenant_id for c in self.counts))
        width = max(len(t) for t in tenants) + 2
        head = "source".ljust(18) + "".join(t.rjust(width) for t in tenants)
        lines = [f"landing zone: {self.out}", f"tenant policy: {self.policy_file}", "",
                 "records (files)", head, "-" * len(head)]
        for s in sources:
            cells = []
            for t in tenants:
                c = self.get(t, s)
                cells.append((f"{c.records} ({c.files})" if c.files else "-").rjust(width))
            lines.append(s.ljust(18) + "".join(cells))
        lines.append(f"\n{self.subjects} subjects, {self.total_files} files")
        return "\n".join(lines)
