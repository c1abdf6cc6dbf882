"""Data subjects of one tenant chunk: identity, customer lifecycle and the latent engagement variables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from lethe.synth import fmt
from lethe.synth.vocab import CITIES, COUNTRY_NAMES, DOMAINS, FIRST, LAST, STREETS, TenantSpec

DAY = fmt.DAY
WEEK = 7 * DAY
# Withdrawal methods: three through SendGrid, three through the CRM.
METHODS = ("unsubscribe", "group_unsubscribe", "spamreport", "crm_email_optout", "crm_consent_optout", "crm_solicit")
METHOD_P = (0.38, 0.24, 0.10, 0.14, 0.08, 0.06)
SEGMENT_RATE = np.array([0.10, 0.20, 0.40])  # marketing sends per week: low, medium, high frequency
FATIGUE_RATE_MULT = 2.2
NULL_T = -1


@dataclass(frozen=True)
class Window:
    """The simulated history: [start, end) in Unix seconds."""

    start: int
    end: int


_ASCII = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ê": "e", "ë": "e", "á": "a", "à": "a",
          "í": "i", "ó": "o", "ú": "u", "ç": "c", "É": "E", "Ó": "O", "'": "", " ": ""}


def _ascii(expr: pl.Expr) -> pl.Expr:
    for k, v in _ASCII.items():
        expr = expr.str.replace_all(k, v, literal=True)
    return expr


def _pick(rng: np.random.Generator, countries: np.ndarray, table: dict[str, tuple[str, ...]]) -> np.ndarray:
    out = np.empty(len(countries), dtype=object)
    for c, values in table.items():
        idx = np.flatnonzero(countries == c)
        out[idx] = np.asarray(values, dtype=object)[rng.integers(0, len(values), size=len(idx))]
    return out.astype(str)


def make_subjects(rng: np.random.Generator, spec: TenantSpec, tenant_no: int, first_sid: int, n: int,
                  win: Window) -> pl.DataFrame:
    """One row per subject with identity fields, lifecycle timestamps and latent variables (all vectorised)."""
    sid = np.arange(first_sid, first_sid + n, dtype=np.int64)
    codes = np.array([c for c, _ in spec.countries])
    weights = np.array([w for _, w in spec.countries])
    country = codes[rng.choice(len(codes), size=n, p=weights / weights.sum())]
    first, last = _pick(rng, country, FIRST), _pick(rng, country, LAST)
    E, S = win.end, win.start
    span = (E - S) // DAY

    # lifecycle: active / former / prospect, with contract ends; some former customers left long ago
    status = np.array(["active", "former", "prospect"])[rng.choice(3, size=n, p=[0.60, 0.27, 0.13])]
    u = rng.random(n)
    created = np.where(status == "active", E - (30 + u * (span + 1500)) * DAY,
                       np.where(status == "former", E - (400 + u * (span + 2500)) * DAY, E - (5 + u * span) * DAY))
    created = created.astype(np.int64) + rng.integers(0, DAY, size=n)
    ended_long_ago = (status == "former") & (rng.random(n) < 0.25)
    end_former = np.minimum(created + (200 + rng.random(n) * 1600).astype(np.int64) * DAY, E - 10 * DAY)
    end_former = np.where(ended_long_ago, E - (1100 + rng.random(n) * 1500).astype(np.int64) * DAY, end_former)
    created = np.where(ended_long_ago, np.minimum(created, end_former - 400 * DAY), created)
    end_active = np.where(rng.random(n) < 0.7, E + (10 + rng.random(n) * 700).astype(np.int64) * DAY, NULL_T)
    contract_end = np.where(status == "former", end_former, np.where(status == "active", end_active, NULL_T))

    # when the subject can be contacted / mailed inside the window
    live_from = np.maximum(created, S)
    contact_until = np.where(status == "former", np.minimum(E, contract_end + 90 * DAY), E)
    mail_until = np.where(status == "former", np.minimum(E, contract_end + 365 * DAY), E)

    # latent engagement: base open propensity e, withdrawal sensitivity z, frequency segment
    e = rng.beta(2.2, 3.0, size=n)
    z = rng.standard_normal(n)
    segment = rng.choice(3, size=n, p=[0.30, 0.45, 0.25])
    consent = np.array(["OptIn", "Seen", "NotSeen", "none"])[rng.choice(4, size=n, p=[0.72, 0.10, 0.08, 0.10])]
    method_c = np.array(["explicit_opt_in", "verbal_recorded", "pre_ticked_box", "implied"])[
        rng.choice(4, size=n, p=[0.55, 0.15, 0.15, 0.15])]
    mailed = ((consent == "OptIn") | (rng.random(n) < 0.03)) & (mail_until - live_from > 30 * DAY)

    # withdrawal: drawn from sensitivity, contact pressure and (low) engagement
    logit = -1.5 + 0.8 * z + 0.5 * (segment - 1) - 2.0 * (e - 0.4)
    p_w = 1.0 / (1.0 + np.exp(-logit))
    room = mail_until - live_from - 90 * DAY
    withdraws = mailed & (room > 30 * DAY) & (rng.random(n) < p_w)
    t_w = live_from + 90 * DAY + (rng.random(n) * np.maximum(room, 0)).astype(np.int64)
    lead = (30 + rng.random(n) * 60).astype(np.int64) * DAY
    t_o = np.maximum(live_from, t_w - lead)
    method = rng.choice(len(METHODS), size=n, p=METHOD_P)
    resub_t = t_w + (14 + rng.random(n) * 136).astype(np.int64) * DAY
    resub = withdraws & (method == 1) & (rng.random(n) < 0.2) & (resub_t < mail_until)
    viol_p = np.where(method >= 3, 0.15, 0.04)
    violations = np.where(withdraws & (rng.random(n) < viol_p), rng.integers(1, 4, size=n), 0)
    # some never-withdrawers go quiet for a while too (the model must not find this trivial)
    dormant_from = np.where(~withdraws & (rng.random(n) < 0.2),
                            live_from + (rng.random(n) * np.maximum(mail_until - live_from, 0)).astype(np.int64),
                            NULL_T)

    df = pl.DataFrame({
        "sid": sid, "country": country, "first": first, "last": last, "status": status,
        "created": created, "contract_end": contract_end, "live_from": live_from,
        "contact_until": contact_until, "mail_until": mail_until,
        "e": e, "z": z, "segment": segment, "consent": consent, "consent_method": method_c, "mailed": mailed,
        "withdraws": withdraws, "t_w": np.where(withdraws, t_w, NULL_T), "t_o": np.where(withdraws, t_o, NULL_T),
        "method": np.where(withdraws, method, -1), "t_r": np.where(resub, resub_t, NULL_T),
        "violations": violations, "dormant_from": dormant_from,
        "dnc": rng.random(n) < 0.08, "profiling_ok": rng.random(n) < 0.35, "phone_ok": rng.random(n) < 0.40,
        "domain": _pick(rng, country, DOMAINS), "street": _pick(rng, country, STREETS),
        "city": _pick(rng, country, CITIES), "house": rng.integers(1, 180, size=n),
        "birth": (E - (18 * 365 + rng.random(n) * 62 * 365).astype(np.int64) * DAY),
        "email_style": rng.integers(0, 3, size=n), "mixed_case": rng.random(n) < 0.15,
    })
    local = (pl.when(pl.col("email_style") == 0)
             .then(pl.concat_str([_ascii(pl.col("first")), pl.lit("."), _ascii(pl.col("last")), pl.col("sid").cast(pl.String)]))
             .when(pl.col("email_style") == 1)
             .then(pl.concat_str([_ascii(pl.col("first")).str.slice(0, 1), _ascii(pl.col("last")), pl.col("sid").cast(pl.String)]))
             .otherwise(pl.concat_str([_ascii(pl.col("last")), pl.lit("_"), _ascii(pl.col("first")), pl.col("sid").cast(pl.String)])))
    df = df.with_columns(email_local=local).with_columns(
        email=pl.concat_str([pl.col("email_local").str.to_lowercase(), pl.lit("@"), pl.col("domain")]),
        # what people type: capitalised names, sometimes an upper-case domain
        email_display=pl.when(pl.col("mixed_case")).then(
            pl.concat_str([pl.col("email_local"), pl.lit("@"), pl.col("domain").str.to_uppercase()])
        ).otherwise(pl.concat_str([pl.col("email_local").str.to_lowercase(), pl.lit("@"), pl.col("domain")])),
        postcode=_postcodes(rng, country),
    )
    names = pl.Series([COUNTRY_NAMES[c] for c in codes])
    code_to_name = dict(zip(codes.tolist(), names.to_list(), strict=True))
    df = df.with_columns(country_field=pl.when(pl.Series(rng.random(n) < 0.85))
                         .then(pl.col("country").replace_strict(code_to_name))
                         .otherwise(pl.col("country")))
    mob = fmt.phone_numbers(rng, country, mobile=True)
    land = fmt.phone_numbers(rng, country, mobile=False)
    return df.with_columns(
        mobile_e164=pl.concat_str([pl.lit("+"), mob["cc"], mob["nsn"]]),
        landline_e164=pl.concat_str([pl.lit("+"), land["cc"], land["nsn"]]),
        mobile_human=fmt.human_phone(mob, rng.integers(0, 6, size=n)),
        landline_human=fmt.human_phone(land, rng.integers(0, 6, size=n)),
        # international-only formats for places where the subject's country is not known
        mobile_intl=fmt.human_phone(mob, rng.choice(np.array([0, 1, 4]), size=n)),
        has_landline=rng.random(n) < 0.6,
        has_mobile=rng.random(n) < 0.88,
        has_email=rng.random(n) < 0.96,
    ).drop("email_local")


def _postcodes(rng: np.random.Generator, country: np.ndarray) -> pl.Series:
    n = len(country)
    letters = np.array(list("ABCDEFGHJKLMNPRSTUWXY"))
    l1, l2, l3, l4 = (letters[rng.integers(0, len(letters), size=n)] for _ in range(4))
    d1, d2, d3 = (rng.integers(0, 10, size=n).astype(str) for _ in range(3))
    num4 = pl.Series(rng.integers(1000, 9999, size=n)).cast(pl.String).to_numpy()
    num5 = pl.Series(rng.integers(10000, 99999, size=n)).cast(pl.String).to_numpy()
    gb = np.char.add(np.char.add(np.char.add(l1, l2), d1), np.char.add(" ", np.char.add(np.char.add(d2, l3), l4)))
    ie = np.char.add(np.char.add(l1, np.char.add(d1, d2)), np.char.add(" ", np.char.add(l2, num4.astype(str))))
    nl = np.char.add(num4.astype(str), np.char.add(" ", np.char.add(l1, l2)))
    out = np.where(country == "GB", gb, np.where(country == "IE", ie, np.where(country == "NL", nl, num5.astype(str))))
    return pl.Series("postcode", out.astype(str))
