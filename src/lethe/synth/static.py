"""Per-tenant and centre-wide tables that do not scale with subjects: purposes, campaigns, agents, breaches, policy."""

from __future__ import annotations

import numpy as np
import polars as pl

from lethe.synth import fmt
from lethe.synth.subjects import WEEK, Window
from lethe.synth.vocab import BREACHES, FIRST, LAST, PURPOSES, TenantSpec

DAY = fmt.DAY
CAMPAIGN_COLUMNS = ("campaign_id", "name", "channel", "purpose", "started_at")
AGENT_COLUMNS = ("agent_username", "tenant_id", "training_completed_at", "exam_score")
BREACH_COLUMNS = ("breach_id", "tenant_id", "detected_at", "description", "data_categories", "subjects_affected",
                  "authority_notified_at", "subjects_notified_at")


def purposes(tenant_no: int, win: Window) -> tuple[pl.DataFrame, dict[str, str]]:
    """DataUsePurpose rows and the purpose key -> Id map."""
    ids = fmt.sf_id("0ZW", tenant_no, np.arange(len(PURPOSES))).to_list()
    created = fmt.ts(pl.lit(win.start - 900 * DAY), fmt.SF_TS)
    df = pl.DataFrame({"Id": ids, "Name": [p[1] for p in PURPOSES], "Description": [p[2] for p in PURPOSES],
                       "CanDataSubjectOptOut": ["true", "true", "true", "true"],
                       "LegalBasisId": ["", "", "", ""]}).with_columns(
        CreatedDate=created, LastModifiedDate=created, IsDeleted=pl.lit("false"),
        _file=pl.lit("crm/purposes/DataUsePurpose.csv"), _part=pl.lit("all"), _sort=pl.int_range(pl.len()),
        _bom=pl.lit(True))
    return df, {p[0]: i for p, i in zip(PURPOSES, ids, strict=True)}


def campaigns(code: str, win: Window, anchor: int) -> pl.DataFrame:
    """Weekly e-mail offers (Marketing), monthly recommendations (Profiling), service news, outbound calls, SMS."""
    weeks = np.arange((win.start - anchor) // WEEK, (win.end - anchor) // WEEK + 1)
    wk = pl.DataFrame({"w": weeks, "t": anchor + weeks * WEEK}).select(
        pl.concat_str([pl.lit(f"{code}-W"), pl.col("w").cast(pl.String).str.zfill(4), pl.lit("-OFFERS")]).alias("campaign_id"),
        pl.concat_str([pl.lit("Weekly offers "), pl.from_epoch("t", time_unit="s").dt.strftime("%G-W%V")]).alias("name"),
        pl.lit("email").alias("channel"), pl.lit("Marketing").alias("purpose"), pl.col("t"))
    months = pl.datetime_range(pl.from_epoch(pl.lit(win.start - 40 * DAY), time_unit="s").dt.truncate("1mo"),
                               pl.from_epoch(pl.lit(win.end), time_unit="s"), "1mo", eager=True)
    mo = pl.DataFrame({"m": months}).with_columns(t=pl.col("m").dt.epoch("s"), ym=pl.col("m").dt.strftime("%Y%m"),
                                                  label=pl.col("m").dt.strftime("%B %Y"))
    monthly = []
    for suffix, name, channel, purpose, offset in (("RECS", "Recommended for you", "email", "Profiling", 0),
                                                   ("SVC", "Service news", "email", "Service updates", 0),
                                                   ("CALLS", "Win-back calls", "phone", "Marketing", 0),
                                                   ("SMS", "Bill reminder texts", "sms", "Service updates", 2 * DAY)):
        monthly.append(mo.select(
            pl.concat_str([pl.lit(f"{code}-"), pl.col("ym"), pl.lit(f"-{suffix}")]).alias("campaign_id"),
            pl.concat_str([pl.lit(f"{name} "), pl.col("label")]).alias("name"),
            pl.lit(channel).alias("channel"), pl.lit(purpose).alias("purpose"), (pl.col("t") + offset).alias("t")))
    df = pl.concat([wk, *monthly], how="vertical").filter(pl.col("t") < win.end)
    d = pl.from_epoch("t", time_unit="s")
    return df.with_columns(
        started_at=fmt.ts("t"),
        _file=pl.concat_str([pl.lit("campaigns/"), d.dt.strftime("%Y/campaigns_%Y-%m"), pl.lit(".csv")]),
        _part=pl.lit("all"), _sort=pl.col("t"), _bom=d.dt.month() == 1,
    ).drop("t")


def agents(rng: np.random.Generator, spec: TenantSpec, n: int, win: Window) -> pl.DataFrame:
    """The tenant's agents: passed, failed (score < 90), lapsed (> 365 days) or never-trained."""
    first = np.asarray(FIRST["GB"])[rng.integers(0, len(FIRST["GB"]), size=n)]
    last = np.asarray(LAST["GB"])[rng.integers(0, len(LAST["GB"]), size=n)]
    user = (pl.Series(first).str.to_lowercase() + "." + pl.Series(last).str.to_lowercase().str.replace_all("'", "")
            + "." + pl.Series(np.arange(n)).cast(pl.String) + "@" + spec.tenant_id.split("-")[0])
    state = rng.choice(4, size=n, p=[0.72, 0.10, 0.12, 0.06])
    state[: min(3, n)] = [0, 1, 2][: min(3, n)]
    done = np.where(state == 2, win.end - rng.integers(366, 800, size=n) * DAY,
                    win.end - rng.integers(5, 360, size=n) * DAY)
    score = np.where(state == 1, rng.integers(55, 90, size=n), rng.integers(90, 101, size=n))
    return pl.DataFrame({"agent_username": user, "tenant_id": spec.tenant_id, "done": done, "score": score,
                         "state": state}).select(
        "agent_username", "tenant_id",
        pl.when(pl.col("state") != 3).then(fmt.ts("done")).alias("training_completed_at"),
        pl.when(pl.col("state") != 3).then(pl.col("score").cast(pl.String)).alias("exam_score"),
    )


def breaches(rng: np.random.Generator, specs: list[TenantSpec], subjects: list[int], win: Window) -> pl.DataFrame:
    """One or two breaches per tenant; the second of a pair is notified to the authority late (> 72 h)."""
    rows = []
    for t, (spec, n_subj) in enumerate(zip(specs, subjects, strict=True)):
        count = 2 if t == 0 or rng.random() < 0.5 else 1
        for b in range(count):
            desc, cats, notify_subjects, _ = BREACHES[(t * 2 + b) % len(BREACHES)]
            detected = win.start + int(rng.random() * (win.end - win.start - 10 * DAY))
            hours = int(rng.integers(80, 200)) if b == 1 else int(rng.integers(6, 66))
            rows.append({
                "breach_id": f"BR-{t + 1:02d}{b + 1:02d}", "tenant_id": spec.tenant_id, "detected": detected,
                "description": desc, "data_categories": cats,
                "subjects_affected": str(max(1, int(n_subj * rng.uniform(0.0005, 0.02)))),
                "authority": detected + hours * 3600,
                "subjects_notified": detected + (hours + 48) * 3600 if notify_subjects else None,
            })
    df = pl.DataFrame(rows, schema_overrides={"subjects_notified": pl.Int64})
    return df.select(
        "breach_id", "tenant_id", fmt.ts("detected").alias("detected_at"), "description", "data_categories",
        "subjects_affected", fmt.ts("authority").alias("authority_notified_at"),
        fmt.ts("subjects_notified").alias("subjects_notified_at"))


def policy_yaml(specs: list[TenantSpec]) -> str:
    """The tenant policy file (CONTRACT section 3) matching the generated tenants."""
    lines = ["# Tenant policy for a generated landing zone (lethe generate).",
             "# Two years of history: the first purge legitimately removes much of it, hence purge_max_share.",
             "tenants:"]
    for s in specs:
        lines += [f"  {s.tenant_id}:", f"    controller: {s.controller}", f"    dsr_sla_days: {s.dsr_sla_days}",
                  f"    consent_refresh_days: {s.consent_refresh_days}", "    purge_max_share: 0.95", "    retention:"]
        lines += [f"      {cat}: {days}" for cat, days in s.retention]
    return "\n".join(lines) + "\n"
