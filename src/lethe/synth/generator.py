"""Orchestrates `lethe generate`: subject chunks per tenant, spooled to disk, then files written."""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from lethe.errors import ConfigError
from lethe.settings import parse_as_of
from lethe.synth import connect, crm, email, fmt, static
from lethe.synth.spool import Family, Spool, write_bytes
from lethe.synth.subjects import WEEK, Window, make_subjects
from lethe.synth.summary import GenerateSummary, SourceCount
from lethe.synth.vocab import TenantSpec, tenant_specs

log = logging.getLogger(__name__)

DEFAULT_END = "2026-11-01T00:00:00Z"
CHUNK = 20_000
DAY = fmt.DAY
CTR = Family("contact_records", "jsonl")
EMAIL = Family("email_events", "json_array")
CONTACTS = Family("crm_contacts", "csv", crm.CONTACT_COLUMNS)
INDIVIDUALS = Family("crm_individuals", "csv", crm.INDIVIDUAL_COLUMNS)
CONSENTS = Family("crm_consents", "csv", crm.CONSENT_COLUMNS)
PURPOSES = Family("crm_purposes", "csv", crm.PURPOSE_COLUMNS)
DSR = Family("dsr_requests", "csv", crm.DSR_COLUMNS)
HOLDS = Family("legal_holds", "csv", crm.HOLD_COLUMNS)
CAMPAIGNS = Family("campaigns", "csv", static.CAMPAIGN_COLUMNS)
TENANT_FAMILIES = (CTR, EMAIL, CAMPAIGNS, CONTACTS, INDIVIDUALS, CONSENTS, PURPOSES, DSR, HOLDS)
SOURCES = ("contact_records", "transcripts", "recordings", "email_events", "campaigns", "crm_contacts",
           "crm_individuals", "crm_consents", "crm_purposes", "dsr_requests", "legal_holds")


def _end_instant(end: str | None, source: str = "--as-of") -> int:
    text = end or DEFAULT_END
    dt = parse_as_of(text, source)  # ConfigError naming the flag or variable: not ISO 8601, or out of range
    if dt.year < 1980:  # the generated history (--days before it) is written as Unix timestamps
        raise ConfigError(f"{source}: {text!r}: generated data must end in 1980 or later (e.g. {DEFAULT_END})")
    return int(dt.timestamp())


def _check(out: Path, tenants: int, subjects: int, days: int) -> None:
    if tenants < 1:
        raise ConfigError(f"--tenants must be at least 1, got {tenants}")
    if subjects < tenants * 10:
        raise ConfigError(f"--subjects must be at least 10 per tenant ({tenants * 10}), got {subjects}")
    if days < 120:
        raise ConfigError(f"--days must be at least 120 (withdrawals need history), got {days}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: not an empty folder; choose a new folder (generate never overwrites files)")


def _split(subjects: int, tenants: int) -> list[int]:
    """Subjects per tenant: bigger clients first, every tenant at least 10."""
    w = 1.0 / np.arange(1, tenants + 1) ** 0.6
    raw = np.floor(w / w.sum() * subjects).astype(int)
    raw[0] += subjects - raw.sum()
    return raw.tolist()


def generate(out: Path, tenants: int = 3, subjects: int = 2000, days: int = 730, seed: int = 42,
             end: str | None = None, end_source: str = "--as-of") -> GenerateSummary:
    """Write a realistic landing zone for `tenants` tenants and `subjects` subjects, plus out/tenants.yml; its
    history ends at `end` (DEFAULT_END when not given, so the same seed writes the same bytes)."""
    out = Path(out)
    _check(out, tenants, subjects, days)
    e = _end_instant(end, end_source)
    win = Window(start=e - days * DAY, end=e)
    specs = tenant_specs(tenants)
    per_tenant = _split(subjects, tenants)
    out.mkdir(parents=True, exist_ok=True)
    all_agents = []
    with tempfile.TemporaryDirectory(prefix="lethe-synth-") as tmp:
        spool = Spool(Path(tmp), out)
        for t, (spec, n_subj) in enumerate(zip(specs, per_tenant, strict=True)):
            log.info("generating %s: %d subjects", spec.tenant_id, n_subj)
            agents = static.agents(np.random.default_rng([seed, t, 1_000_001]), spec,
                                   max(8, min(400, n_subj // 150)), win)
            all_agents.append(agents)
            _tenant(spool, spec, t, n_subj, win, seed, agents["agent_username"].to_list(), out / spec.tenant_id)
        centre = out / "_centre"
        agents_df = pl.concat(all_agents, how="vertical")
        _csv(centre / "agents" / fmt_date(win.end, "%Y") / f"agents_{fmt_date(win.end, '%Y-%m-%d')}.csv",
             agents_df, static.AGENT_COLUMNS, bom=False)
        spool.count_direct("agents", "_centre", agents_df.height, 1)
        br = static.breaches(np.random.default_rng([seed, 9_999_999]), specs, per_tenant, win)
        _csv(centre / "breaches" / "breach_register.csv", br, static.BREACH_COLUMNS, bom=True)
        spool.count_direct("breaches", "_centre", br.height, 1)
    policy = out / "tenants.yml"
    policy.write_text(static.policy_yaml(specs), encoding="utf-8")
    counts = [SourceCount(spec.tenant_id, s, spool.records[(s, spec.tenant_id)], spool.files[(s, spec.tenant_id)])
              for spec in specs for s in SOURCES]
    counts += [SourceCount("_centre", s, spool.records[(s, "_centre")], spool.files[(s, "_centre")])
               for s in ("agents", "breaches")]
    return GenerateSummary(out=out, policy_file=policy, subjects=sum(per_tenant), counts=tuple(counts))


def fmt_date(t: int, pattern: str) -> str:
    return datetime.fromtimestamp(t, UTC).strftime(pattern)


def _csv(path: Path, df: pl.DataFrame, columns: tuple[str, ...], bom: bool) -> None:
    text = ("\ufeff" if bom else "") + df.select(columns).write_csv(line_terminator="\r\n")
    write_bytes(path, text.encode("utf-8"))


def _tenant(spool: Spool, spec: TenantSpec, t: int, n_subj: int, win: Window, seed: int, agents: list[str],
            base: Path) -> None:
    code = spec.tenant_id.split("-")[0][:3].upper() + ("" if t < 6 else str(t // 6 + 1))
    anchor = ((win.start + 3 * DAY) // WEEK) * WEEK - 3 * DAY  # the Monday on or before the start
    site = f"{spec.tenant_id}.example"
    acct = f"{470000000000 + t * 1117:012d}"
    purposes_df, purpose_ids = static.purposes(t, win)
    spool.add(PURPOSES, spec.tenant_id, purposes_df)
    spool.add(CAMPAIGNS, spec.tenant_id, static.campaigns(code, win, anchor))
    for chunk, first in enumerate(range(0, n_subj, CHUNK)):
        n = min(CHUNK, n_subj - first)

        def rng(stream: int, chunk: int = chunk) -> np.random.Generator:
            return np.random.default_rng([seed, t, chunk, stream])

        subj = make_subjects(rng(0), spec, t, first, n, win)
        sid = subj["sid"].to_numpy()
        subj = subj.with_columns(crm_id=fmt.sf_id("003", t, sid * 2), crm_dup_id=fmt.sf_id("003", t, sid * 2 + 1),
                                 individual_id=fmt.sf_id("0PK", t, sid))
        ev = email.events(rng(1), subj, code, anchor)
        spool.add(EMAIL, spec.tenant_id, email.render(rng(2), ev, subj, site, win.end))
        del ev
        c = connect.contacts(rng(3), subj, win, agents)
        spool.add(CTR, spec.tenant_id, connect.render_ctr(c, subj, t, code, win.end))
        spool.count_direct("recordings", spec.tenant_id, *(2 * [connect.write_recordings(rng(4), c, base)]))
        spool.count_direct("transcripts", spec.tenant_id,
                           *(2 * [connect.write_transcripts(rng(5), c, subj, base, spec.brand, acct, win.end)]))
        last = (subj.select(pl.int_range(pl.len()).alias("i"))
                .join(c.group_by("i").agg(pl.col("end").max()), on="i", how="left")["end"].fill_null(0))
        spool.add(CONTACTS, spec.tenant_id, crm.contacts(rng(6), subj, last, win))
        dsr = crm.dsr_requests(rng(7), subj, code, win, force_all=chunk == 0)
        spool.add(DSR, spec.tenant_id, crm.render_dsr(dsr))
        spool.add(INDIVIDUALS, spec.tenant_id, crm.individuals(rng(8), subj, dsr, win))
        spool.add(CONSENTS, spec.tenant_id, crm.consents(rng(9), subj, purpose_ids, t, win, c))
        spool.add(HOLDS, spec.tenant_id, crm.legal_holds(rng(10), subj, dsr, code, win, force=chunk == 0))
        log.info("%s: subjects %d-%d spooled", spec.tenant_id, first, first + n)
    for family in TENANT_FAMILIES:
        spool.flush(family, spec.tenant_id, base)
