"""SendGrid Event Webhook events for one chunk of subjects: sends, deliveries, opens, withdrawals."""

from __future__ import annotations

import numpy as np
import polars as pl

from lethe.synth import fmt
from lethe.synth.subjects import FATIGUE_RATE_MULT, NULL_T, SEGMENT_RATE, WEEK
from lethe.synth.vocab import USER_AGENTS

DAY = fmt.DAY
ASM_MARKETING, ASM_SERVICE = 14101, 14102
# send kinds -> campaign id suffix and SendGrid category (string form, array form)
KINDS = {
    0: ("OFFERS", '"marketing"', '["marketing","weekly-offers"]'),
    1: ("RECS", '"recommendations"', '["marketing","recommendations"]'),
    2: ("SVC", '"service-updates"', '["service-updates","account"]'),
}


def _segments(rng: np.random.Generator, idx: np.ndarray, lo: np.ndarray, hi: np.ndarray,
              rate_per_week: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson number of sends per (subject, interval), then uniform times inside the interval."""
    dur = np.maximum(hi - lo, 0)
    counts = rng.poisson(rate_per_week * dur / WEEK)
    rep = np.repeat(np.arange(len(idx)), counts)
    t = lo[rep] + (rng.random(len(rep)) * dur[rep]).astype(np.int64)
    return idx[rep], t


def sends(rng: np.random.Generator, subj: pl.DataFrame) -> pl.DataFrame:
    """Every email send (row: subject index, time, kind, open probability, marketing flag)."""
    g = {c: subj[c].to_numpy() for c in ("live_from", "mail_until", "t_w", "t_o", "t_r", "violations", "segment",
                                         "mailed", "withdraws", "e", "profiling_ok", "status", "contract_end",
                                         "dormant_from", "has_email")}
    n = subj.height
    idx = np.arange(n)
    rate = SEGMENT_RATE[g["segment"]]
    ok = g["mailed"] & g["has_email"]
    w = g["withdraws"]
    parts = []
    # never-withdrawers: whole mail window at their segment rate
    m = ok & ~w
    parts.append((*_segments(rng, idx[m], g["live_from"][m], g["mail_until"][m], rate[m]), 0))
    # withdrawers: normal phase, then the fatigue phase at a higher frequency, ending at withdrawal
    m = ok & w
    parts.append((*_segments(rng, idx[m], g["live_from"][m], g["t_o"][m], rate[m]), 0))
    parts.append((*_segments(rng, idx[m], g["t_o"][m], g["t_w"][m], rate[m] * FATIGUE_RATE_MULT), 1))
    # group resubscribers: mailed again after resubscribing
    m = ok & (g["t_r"] != NULL_T)
    parts.append((*_segments(rng, idx[m], g["t_r"][m], g["mail_until"][m], rate[m] * 0.7), 2))
    # violations: marketing after the withdrawal
    m = ok & (g["violations"] > 0)
    rep = np.repeat(idx[m], g["violations"][m])
    vt = g["t_w"][rep] + ((2 + rng.random(len(rep)) * 73) * DAY).astype(np.int64)
    keep = vt < g["mail_until"][rep]
    parts.append((rep[keep], vt[keep], 3))
    # service updates to customers, unaffected by marketing withdrawals
    cust = g["has_email"] & (g["status"] != "prospect")
    until = np.where(g["contract_end"] == NULL_T, g["mail_until"], np.minimum(g["contract_end"], g["mail_until"]))
    parts.append((*_segments(rng, idx[cust], g["live_from"][cust], until[cust], np.full(cust.sum(), 0.06)), 4))

    s_idx = np.concatenate([p[0] for p in parts])
    s_t = np.concatenate([p[1] for p in parts])
    phase = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    e = g["e"][s_idx]
    # open probability: base engagement, falling linearly to 15% of it across the fatigue phase
    t_o, t_w = g["t_o"][s_idx], g["t_w"][s_idx]
    frac = np.clip((s_t - t_o) / np.maximum(t_w - t_o, 1), 0, 1)
    p_open = np.select([phase == 1, phase == 2, phase == 3], [e * (1 - 0.85 * frac), e * 0.5, e * 0.2], e)
    dorm = g["dormant_from"][s_idx]
    p_open = np.where((dorm != NULL_T) & (s_t >= dorm) & (s_t < dorm + 60 * DAY), p_open * 0.3, p_open)
    kind = np.where(phase == 4, 2, np.where(rng.random(len(s_idx)) < np.where(g["profiling_ok"][s_idx], 0.2, 0.02), 1, 0))
    spam_p = np.where(phase == 1, 0.03 * frac, 0.0005)
    return pl.DataFrame({"i": s_idx, "t": s_t, "phase": phase, "kind": kind, "p_open": p_open, "spam_p": spam_p})


def events(rng: np.random.Generator, subj: pl.DataFrame, tenant_code: str, anchor: int) -> pl.DataFrame:
    """All webhook events of a chunk: columns i (subject index), t (Unix seconds), event, and field values."""
    s = sends(rng, subj)
    n = s.height
    msg = fmt.random_token(rng, n, 22) + ".filterdrecv-" + pl.Series(rng.integers(100, 999, size=n)).cast(pl.String) + "-1"
    week = (s["t"] - anchor) // WEEK
    month = pl.from_epoch(s["t"], time_unit="s").dt.strftime("%Y%m")
    cid = pl.select(
        pl.when(pl.Series(s["kind"]) == 2).then(pl.lit(f"{tenant_code}-") + month + "-SVC")
        .when(pl.Series(s["kind"]) == 1).then(pl.lit(f"{tenant_code}-") + month + "-RECS")
        .otherwise(pl.lit(f"{tenant_code}-W") + week.cast(pl.String).str.zfill(4) + "-OFFERS")
    ).to_series()
    s = s.with_columns(msg=msg, campaign_id=cid)
    r = rng.random((n, 8))
    sg_unsub = subj["method"].to_numpy()[s["i"].to_numpy()]
    violated = (s["phase"].to_numpy() == 3) & (sg_unsub <= 1)
    dropped = (r[:, 0] < 0.012) | (violated & (r[:, 1] < 0.5))
    bounced = ~dropped & (r[:, 2] < 0.015)
    deferred = ~dropped & (r[:, 3] < 0.02)
    delivered = ~dropped & ~bounced
    opened = delivered & (r[:, 4] < s["p_open"].to_numpy())
    reopened = opened & (r[:, 5] < 0.25)
    clicked = opened & (r[:, 6] < 0.25)
    spam = delivered & (r[:, 7] < s["spam_p"].to_numpy())
    t = s["t"].to_numpy()
    t_open = t + rng.exponential(8 * 3600, n).astype(np.int64) + 60
    frames = [
        _ev(s, np.ones(n, bool), t, "processed"),
        _ev(s, dropped, t + 1, "dropped", reason=np.where(violated, "Unsubscribed Address", "Bounced Address")),
        _ev(s, deferred, t + 30, "deferred", response="400 4.2.2 mailbox full, try again later", attempt="1"),
        _ev(s, bounced, t + 5, "bounce", reason="550 5.1.1 The email account that you tried to reach does not exist",
            btype=np.where(r[:, 2] < 0.005, "blocked", "bounce")),
        _ev(s, delivered, t + 3 + deferred * 1800 + (r[:, 3] * 20).astype(np.int64), "delivered", response="250 OK"),
        _ev(s, opened, t_open, "open", ua=True),
        _ev(s, reopened, t_open + rng.exponential(DAY, n).astype(np.int64), "open", ua=True),
        _ev(s, clicked, t_open + rng.exponential(600, n).astype(np.int64) + 5, "click", ua=True, url=True),
        _ev(s, spam, t_open + 120, "spamreport"),
    ]
    ev = pl.concat(frames, how="vertical")
    return pl.concat([ev, _withdrawals(rng, subj, tenant_code, anchor)], how="vertical")


def _ev(s: pl.DataFrame, mask: np.ndarray, t: np.ndarray, event: str, reason: object = None, btype: object = None,
        response: object = None, attempt: object = None, ua: bool = False, url: bool = False) -> pl.DataFrame:
    sel = s.filter(pl.Series(mask))
    k = sel.height

    def col(v: object) -> pl.Series:
        if v is None:
            return pl.Series([None] * k, dtype=pl.String)
        if isinstance(v, np.ndarray):
            return pl.Series(v[mask].astype(str))
        return pl.Series([v] * k, dtype=pl.String)

    tt = t[mask]
    kind = sel["kind"]
    return pl.DataFrame({
        "i": sel["i"], "t": tt, "event": pl.Series([event] * k, dtype=pl.String), "kind": kind,
        "msg": sel["msg"], "campaign_id": sel["campaign_id"],
        "asm_group_id": pl.select(pl.when(kind == 2).then(ASM_SERVICE).otherwise(ASM_MARKETING).cast(pl.Int64)).to_series(),
        "reason": col(reason), "type": col(btype), "response": col(response), "attempt": col(attempt),
        "ua": pl.Series((tt % len(USER_AGENTS)).astype(np.int64)) if ua else pl.Series([None] * k, dtype=pl.Int64),
        "url": pl.Series([True] * k, dtype=pl.Boolean) if url else pl.Series([False] * k, dtype=pl.Boolean),
    })


def _withdrawals(rng: np.random.Generator, subj: pl.DataFrame, tenant_code: str, anchor: int) -> pl.DataFrame:
    """unsubscribe / group_unsubscribe / spamreport at the withdrawal instant, group_resubscribe later."""
    method = subj["method"].to_numpy()
    has_email = subj["has_email"].to_numpy()
    rows = []
    for code, event in ((0, "unsubscribe"), (1, "group_unsubscribe"), (2, "spamreport")):
        m = (method == code) & has_email
        rows.append((np.flatnonzero(m), subj["t_w"].to_numpy()[m], event))
    m = subj["t_r"].to_numpy() != NULL_T
    rows.append((np.flatnonzero(m), subj["t_r"].to_numpy()[m], "group_resubscribe"))
    out = []
    for i, t, event in rows:
        k = len(i)
        week = (t - anchor) // WEEK
        out.append(pl.DataFrame({
            "i": i, "t": t, "event": pl.Series([event] * k, dtype=pl.String), "kind": np.zeros(k, dtype=np.int64),
            "msg": fmt.random_token(rng, k, 22) + ".filterdrecv-500-1",
            "campaign_id": f"{tenant_code}-W" + pl.Series(week, dtype=pl.Int64).cast(pl.String).str.zfill(4) + "-OFFERS",
            "asm_group_id": np.full(k, ASM_MARKETING, dtype=np.int64),
            "reason": pl.Series([None] * k, dtype=pl.String), "type": pl.Series([None] * k, dtype=pl.String),
            "response": pl.Series([None] * k, dtype=pl.String), "attempt": pl.Series([None] * k, dtype=pl.String),
            "ua": pl.Series(np.where(event == "spamreport", -1, t % len(USER_AGENTS))).cast(pl.Int64),
            "url": pl.Series([False] * k, dtype=pl.Boolean),
        }))
    return pl.concat(out, how="vertical").with_columns(
        ua=pl.when(pl.col("ua") < 0).then(None).otherwise(pl.col("ua")))


# Fields beyond the common ones that each webhook event type carries.
EXTRA_FIELDS = {
    "processed": ("smtp-id",),
    "dropped": ("reason",),
    "deferred": ("response", "attempt"),
    "bounce": ("reason", "type"),
    "delivered": ("response", "tls"),
    "open": ("ip", "useragent", "sg_content_type"),
    "click": ("ip", "useragent", "url"),
    "spamreport": (),
    "unsubscribe": ("ip", "useragent"),
    "group_unsubscribe": ("ip", "useragent"),
    "group_resubscribe": ("ip", "useragent"),
}


def render(rng: np.random.Generator, ev: pl.DataFrame, subj: pl.DataFrame, site: str, end: int) -> pl.DataFrame:
    """Webhook JSON objects with `_file`, `_part`, `_sort`; about 2% re-delivered in the next day's POST.

    Nothing is delivered at or after `end` (the generated history's last instant).
    """
    people = subj.select(pl.int_range(pl.len()).alias("i"), pl.col("email_display").alias("email"), "sid")
    as_array = rng.random(ev.height) < 0.4
    ev = ev.with_columns(
        sg_event_id=fmt.random_token(rng, ev.height, 22),
        cat=pl.Series(as_array).cast(pl.Int64) * 10 + pl.col("kind"),
    ).filter(pl.col("t") < end).join(people, on="i", how="left")
    cat_text = {k: v[1] for k, v in KINDS.items()} | {10 + k: v[2] for k, v in KINDS.items()}
    value = {
        "smtp-id": pl.concat_str([pl.lit('"<'), pl.col("msg").str.slice(0, 14), pl.lit('@ismtpd0107p1lon1>"')]),
        "reason": pl.concat_str([pl.lit('"'), pl.col("reason"), pl.lit('"')]),
        "type": pl.concat_str([pl.lit('"'), pl.col("type"), pl.lit('"')]),
        "response": pl.concat_str([pl.lit('"'), pl.col("response"), pl.lit('"')]),
        "attempt": pl.concat_str([pl.lit('"'), pl.col("attempt"), pl.lit('"')]),
        "tls": pl.lit("1"),
        "url": pl.concat_str([pl.lit(f'"https://www.{site}/offers?utm_campaign='), pl.col("campaign_id"),
                              pl.lit("&c="), pl.col("sid").cast(pl.String), pl.lit('"')]),
        "ip": pl.concat_str([pl.lit('"198.51.100.'), (pl.col("sid") % 250 + 1).cast(pl.String), pl.lit('"')]),
        "useragent": pl.concat_str([pl.lit('"'), pl.col("ua").replace_strict(
            dict(enumerate(USER_AGENTS)), default="", return_dtype=pl.String), pl.lit('"')]),
        "sg_content_type": pl.lit('"html"'),
    }
    rendered = []
    for (event,), part in ev.partition_by("event", as_dict=True, maintain_order=True).items():
        extras = EXTRA_FIELDS[str(event)]
        pieces = [
            pl.lit('{"email":"'), pl.col("email"), pl.lit('","timestamp":'), pl.col("t").cast(pl.String),
            pl.lit(f',"event":"{event}","category":'),
            pl.col("cat").replace_strict(cat_text, return_dtype=pl.String),
            pl.lit(',"sg_event_id":"'), pl.col("sg_event_id"), pl.lit('","sg_message_id":"'), pl.col("msg"),
            pl.lit('.0","campaign_id":"'), pl.col("campaign_id"), pl.lit('","asm_group_id":'),
            pl.col("asm_group_id").cast(pl.String),
        ]
        for key in extras:
            if key == "useragent" or key == "ip":
                pieces.append(pl.when(pl.col("ua").is_not_null()).then(pl.concat_str([pl.lit(f',"{key}":'), value[key]])))
            else:
                pieces += [pl.lit(f',"{key}":'), value[key]]
        pieces.append(pl.lit("}"))
        rendered.append(part.select("t", pl.concat_str(pieces, ignore_nulls=True).alias("_line")))
    out = pl.concat(rendered, how="vertical").with_columns(deliver_at=pl.col("t"))
    again = out.filter(pl.Series(rng.random(out.height) < 0.02)).with_columns(
        deliver_at=pl.col("deliver_at") + DAY + 3600).filter(pl.col("deliver_at") < end)
    both = pl.concat([out, again], how="vertical")
    stem = pl.from_epoch(pl.col("deliver_at"), time_unit="s").dt.strftime("email_events/%Y/%m/webhook-%Y%m%d")
    return both.with_columns(stem=stem).select(
        pl.concat_str([pl.col("stem"), pl.when(pl.col("stem").str.slice(-2).is_in(["03", "17"]))
                      .then(pl.lit(".json.gz")).otherwise(pl.lit(".json"))]).alias("_file"),
        pl.col("stem").str.slice(13, 7).str.replace("/", "-", literal=True).alias("_part"),
        pl.col("t").alias("_sort"),
        "_line",
    )
