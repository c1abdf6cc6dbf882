"""What one ingest run loaded and quarantined, per tenant and dataset."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class SourceSummary:
    """Counts for one tenant's dataset in one run."""

    tenant: str
    dataset: str
    files: int = 0
    loaded: int = 0
    duplicates_skipped: int = 0
    replaced: int = 0
    quarantined_rows: int = 0
    quarantined_files: int = 0
    changed_files: int = 0
    tombstoned: int = 0
    failed_expectations: int = 0
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngestSummary:
    """The result of `run_ingest`: one entry per tenant and dataset that had new files."""

    sources: tuple[SourceSummary, ...] = field(default_factory=tuple)
    seconds: float = 0.0
    not_loaded: tuple[str, ...] = ()  # landing folders left alone, each with its reason (one line)

    @property
    def loaded(self) -> int:
        return sum(s.loaded for s in self.sources)

    @property
    def quarantined_rows(self) -> int:
        return sum(s.quarantined_rows for s in self.sources)

    @property
    def quarantined_files(self) -> int:
        return sum(s.quarantined_files for s in self.sources)

    def to_dict(self) -> dict:
        return {
            "seconds": round(self.seconds, 3),
            "totals": {
                "files": sum(s.files for s in self.sources),
                "loaded": self.loaded,
                "replaced": sum(s.replaced for s in self.sources),
                "duplicates_skipped": sum(s.duplicates_skipped for s in self.sources),
                "quarantined_rows": self.quarantined_rows,
                "quarantined_files": self.quarantined_files,
                "changed_files": sum(s.changed_files for s in self.sources),
                "tombstoned": sum(s.tombstoned for s in self.sources),
            },
            "sources": [{**asdict(s), "reasons": list(s.reasons)} for s in self.sources],
            "not_loaded": list(self.not_loaded),
        }

    def render(self) -> str:
        skipped = ["", "not loaded:", *(f"  {reason}" for reason in self.not_loaded)] if self.not_loaded else []
        if not self.sources:
            return "\n".join(["nothing new to ingest", *skipped])
        # "replaced": loaded rows that took the place of an earlier copy of their record (a newer version, or
        # the later delivery); "dup skipped": rows that lost to a copy loaded before or in the same batch
        head = ("tenant", "source", "files", "loaded", "replaced", "dup skipped", "q rows", "q files", "changed",
                "tombstoned")
        rows = [
            (s.tenant, s.dataset, s.files, s.loaded, s.replaced, s.duplicates_skipped, s.quarantined_rows,
             s.quarantined_files, s.changed_files, s.tombstoned)
            for s in self.sources
        ]
        widths = [max(len(str(v)) for v in col) for col in zip(head, *rows, strict=False)]
        fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
        lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*r) for r in rows]
        reasons = [(s.tenant, s.dataset, r) for s in self.sources for r in s.reasons]
        if reasons:
            lines.append("")
            lines.append("quarantined:")
            lines += [f"  {t}/{d}: {r}" for t, d, r in reasons]
        lines += skipped
        t = self.to_dict()["totals"]
        lines.append("")
        lines.append(
            f"{t['files']} files, {t['loaded']} rows loaded ({t['replaced']} replacing an earlier copy), "
            f"{t['duplicates_skipped']} duplicates skipped, "
            f"{t['quarantined_rows']} rows and {t['quarantined_files']} files quarantined in {self.seconds:.1f} s"
        )
        return "\n".join(lines)
