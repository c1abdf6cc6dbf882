"""Vectorised value builders: ids, timestamps, phone numbers in human formats, card-like numbers."""

from __future__ import annotations

import numpy as np
import polars as pl

from lethe.synth.vocab import COUNTRY_CODES, LANDLINE, MOBILE

_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
ISO = "%Y-%m-%dT%H:%M:%SZ"
SF_TS = "%Y-%m-%dT%H:%M:%S.000Z"
DAY = 86_400


def _ascii_to_str(codes: np.ndarray) -> pl.Series:
    """(n, w) ASCII byte codes to a string Series of width w, without a Python loop."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    return pl.Series(codes.view(f"S{codes.shape[1]}").ravel()).cast(pl.String)


def base62(values: np.ndarray, width: int) -> pl.Series:
    """Fixed-width base62 encoding of non-negative integers."""
    v = np.asarray(values, dtype=np.uint64).copy()
    out = np.empty((len(v), width), dtype=np.uint8)
    for k in range(width - 1, -1, -1):
        out[:, k] = _B62[(v % 62).astype(np.int64)]
        v //= 62
    return _ascii_to_str(out)


def random_token(rng: np.random.Generator, n: int, width: int) -> pl.Series:
    """Random base62 strings, e.g. SendGrid event ids."""
    return _ascii_to_str(_B62[rng.integers(0, 62, size=(n, width), dtype=np.uint8)])


def uuid_like(rng: np.random.Generator, n: int) -> pl.Series:
    """Random version-4 style UUID strings (Amazon Connect contact ids)."""
    cp = _HEX[rng.integers(0, 16, size=(n, 36), dtype=np.uint8)]
    cp[:, [8, 13, 18, 23]] = ord("-")
    cp[:, 14] = ord("4")
    cp[:, 19] = _HEX[8 + rng.integers(0, 4, size=n)]
    return _ascii_to_str(cp)


def sf_id(prefix: str, tenant_no: int, seq: np.ndarray) -> pl.Series:
    """18-character Salesforce-style ids: key prefix, pod, tenant, sequence."""
    return f"{prefix}5g{base62(np.array([tenant_no]), 2)[0]}" + base62(seq, 11)


def ts(col: str | pl.Expr, fmt: str = ISO) -> pl.Expr:
    """Unix seconds to an ISO 8601 UTC string."""
    e = pl.col(col) if isinstance(col, str) else col
    return pl.from_epoch(e.cast(pl.Int64), time_unit="s").dt.strftime(fmt)


def day_path(col: str, template: str) -> pl.Expr:
    """A dated file path from Unix seconds, e.g. 'contact_records/%Y/%m/%Y-%m-%d.jsonl'."""
    return pl.from_epoch(pl.col(col).cast(pl.Int64), time_unit="s").dt.strftime(template)


def phone_numbers(rng: np.random.Generator, countries: np.ndarray, mobile: bool) -> pl.DataFrame:
    """Valid numbers per subject country: columns cc, nsn (national significant number), area length."""
    n = len(countries)
    cc = np.empty(n, dtype=object)
    nsn = np.empty(n, dtype=object)
    area = np.zeros(n, dtype=np.int64)
    plans = MOBILE if mobile else LANDLINE
    for country, options in plans.items():
        idx = np.flatnonzero(countries == country)
        if not len(idx):
            continue
        choice = rng.integers(0, len(options), size=len(idx))
        cc[idx] = COUNTRY_CODES[country]
        for k, (prefix, digits, area_len) in enumerate(options):
            sel = idx[choice == k]
            body = pl.Series(rng.integers(0, 10**digits, size=len(sel))).cast(pl.String).str.zfill(digits)
            nsn[sel] = (prefix + body).to_numpy()
            area[sel] = area_len
    return pl.DataFrame({"cc": cc.astype(str), "nsn": nsn.astype(str), "area": area})


def human_phone(df: pl.DataFrame, style: np.ndarray) -> pl.Series:
    """Render (cc, nsn, area) in one of several human formats chosen by `style` (0 = E.164).

    Styles 2, 3 and 5 are national formats: parse them with the subject's country as region.
    """
    d = df.with_columns(style=pl.Series(style, dtype=pl.Int64)).with_columns(
        a=pl.col("nsn").str.slice(0, pl.col("area")),
        rest=pl.col("nsn").str.slice(pl.col("area")),
    ).with_columns(
        r1=pl.col("rest").str.slice(0, pl.col("rest").str.len_chars() // 2),
        r2=pl.col("rest").str.slice(pl.col("rest").str.len_chars() // 2),
    )
    s = pl.col("style")
    expr = (
        pl.when(s == 0).then(pl.concat_str([pl.lit("+"), "cc", "nsn"]))
        .when(s == 1).then(pl.concat_str([pl.lit("+"), "cc", pl.lit(" "), "a", pl.lit(" "), "r1", pl.lit(" "), "r2"]))
        .when(s == 2).then(pl.concat_str([pl.lit("0"), "a", pl.lit(" "), "r1", pl.lit(" "), "r2"]))
        .when(s == 3).then(pl.concat_str([pl.lit("(0"), "a", pl.lit(") "), "r1", pl.lit("-"), "r2"]))
        .when(s == 4).then(pl.concat_str([pl.lit("00"), "cc", pl.lit(" "), "a", pl.lit(" "), "rest"]))
        .otherwise(pl.concat_str([pl.lit("0"), "a", "rest"]))
    )
    return d.select(expr.alias("phone")).to_series()


def card_numbers(rng: np.random.Generator, n: int) -> pl.Series:
    """Luhn-valid 16-digit card-like numbers (Visa/Mastercard ranges), grouped in fours or not."""
    digits = rng.integers(0, 10, size=(n, 16))
    digits[:, 0] = np.where(rng.random(n) < 0.6, 4, 5)
    digits[:, 1] = np.where(digits[:, 0] == 5, rng.integers(1, 6, size=n), digits[:, 1])
    body = digits[:, :15].copy()
    doubled = body[:, 14::-2] * 2  # positions doubled, counted from the check digit
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    total = doubled.sum(axis=1) + body[:, 13::-2].sum(axis=1)
    digits[:, 15] = (10 - total % 10) % 10
    s = _ascii_to_str((digits + ord("0")).astype(np.uint8))
    grouped = rng.random(n) < 0.7
    spaced = pl.concat_str([s.str.slice(0, 4), s.str.slice(4, 4), s.str.slice(8, 4), s.str.slice(12, 4)], separator=" ")
    return pl.select(pl.when(pl.Series(grouped)).then(spaced).otherwise(s)).to_series().alias("card")
