"""Landing files the warehouse refused (quarantined whole, or changed under a path already loaded) are on disk
but in no raw table, so neither the purge (which finds files through the records it deletes) nor the ingest
tombstone check (which works on parsed records) ever reads them. `scrub_refused` finds the ones that hold an
erased subject's identity and deletes them: every e-mail address, phone number (any human format) and id-like
token in the file's text is keyed-hashed like a tombstone and matched against lethe_meta.tombstones. A refused
file cannot be rewritten record by record (it did not parse, or is not the content that was loaded), and none
of its content is in the warehouse, so deleting it loses nothing the warehouse holds."""

# ruff: noqa: S608 -- SQL is built from this module's own identity kinds; values and patterns are bound.
from __future__ import annotations

import contextlib
import logging
import zlib
from pathlib import Path

import duckdb
import phonenumbers
import polars as pl

from lethe import catalog
from lethe.fsutil import is_gzip
from lethe.keys import sql_keyed_hash

log = logging.getLogger(__name__)

EMAIL_RE = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
TOKEN_RE = r"[A-Za-z0-9][A-Za-z0-9_-]{2,}"  # CRM ids, Amazon Connect contact ids (UUIDs) and any other word
# a run of digits and the separators phone numbers are written with, on one line: every number the matcher
# finds in a text lies inside one such run. Runs of fewer than PHONE_MIN_DIGITS digits are left out: a
# tombstoned phone is a subject's number as ingest normalised it (a possible number of its region, 6 digits
# or more in every region Lethe's tenants use), never a 2-5 digit fragment of an id or a date.
PHONE_RUN_RE = r"[+(]*[0-9][0-9 \t().\-/]*[0-9]"
PHONE_MIN_DIGITS = 6


def _text(path: Path) -> str:
    """The file's text as far as it can be read: a truncated gzip gives what it holds, a corrupt one its raw bytes,
    invalid UTF-8 a replacement character."""
    data = path.read_bytes()
    if is_gzip(path):
        with contextlib.suppress(zlib.error):
            data = zlib.decompressobj(wbits=31).decompress(data)
    return data.decode("utf-8", errors="replace")


def _phones(candidate: str, region: str) -> list[str]:
    """Every phone number phonenumbers' matcher finds in one candidate run of digits and separators, as E.164."""
    return sorted({
        phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
        for m in phonenumbers.PhoneNumberMatcher(candidate, region, phonenumbers.Leniency.POSSIBLE,
                                                 max_tries=len(candidate) + 1)
    })


def _phone_values(con: duckdb.DuckDBPyConnection, regions: dict[str, list[str]]) -> None:
    """Temp table _refused_phones(tenant, rel, v): the E.164 numbers in each _refused file, a national-format
    number read in each of its tenant's regions (as ingest may have normalised it: lethe.ingest.normalise
    tenant_regions). The matcher is pure Python and slow on long text, so it runs only on the DISTINCT runs of
    digits and phone separators (PHONE_RUN_RE: every number it can find lies inside one) long enough to hold a
    subject's number, per region, not over whole files."""
    con.execute(
        "create or replace temp table _refused_runs as "
        "select distinct tenant, rel, run from (select tenant, rel, unnest(regexp_extract_all(text, $run)) as run "
        "from _refused) where length(regexp_replace(run, '[^0-9]', '', 'g')) >= $digits",
        {"run": PHONE_RUN_RE, "digits": PHONE_MIN_DIGITS},
    )
    pairs = con.execute("select distinct tenant, run from _refused_runs").fetchall()
    found = list(dict.fromkeys((tenant, run, phone) for tenant, run in pairs for region in regions[tenant]
                               for phone in _phones(run, region)))
    frame = pl.DataFrame(found, schema={"tenant": pl.String, "run": pl.String, "v": pl.String}, orient="row")
    con.register("_run_phones", frame)
    try:
        con.execute(
            "create or replace temp table _refused_phones as select distinct r.tenant, r.rel, p.v "
            "from _refused_runs r join _run_phones p on p.tenant = r.tenant and p.run = r.run"
        )
    finally:
        con.unregister("_run_phones")
        con.execute("drop table if exists _refused_runs")


def refused_files(con: duckdb.DuckDBPyConnection, landing: Path) -> list[tuple[str, str]]:
    """(tenant, path relative to the landing zone) of every refused file still on disk."""
    if not catalog.table_exists(con, "quarantine", "files"):
        return []
    rows = con.execute("select distinct tenant_id, source_file from quarantine.files order by all").fetchall()
    return [(t, rel) for t, rel in rows if (landing / rel).is_file()]


def tombstoned_texts(con: duckdb.DuckDBPyConnection, texts: pl.DataFrame) -> list[tuple[str, str]]:
    """(tenant, rel) of the rows of `texts` (columns tenant, rel: any id, text) whose text holds a tombstoned
    identity of their tenant: an e-mail address, a phone number in any human format, or an id-like token."""
    if texts.height == 0 or not _any_tombstone(con):
        return []
    return sorted({(t, r) for t, r, _ in identities_in_texts(con, texts, "lethe_meta.tombstones")})


def _any_tombstone(con: duckdb.DuckDBPyConnection) -> bool:
    return catalog.table_exists(con, "lethe_meta", "tombstones") and bool(
        con.execute("select count(*) from lethe_meta.tombstones").fetchone()[0])


def identities_in_texts(con: duckdb.DuckDBPyConnection, texts: pl.DataFrame, identities: str) -> list[tuple[str, str, str]]:
    """(tenant, rel, identity_hash) for every identity of the relation `identities` (columns tenant_id, kind,
    identity_hash: keyed hashes, as tombstones hold them) that the text of a row of `texts` (columns tenant,
    rel, text) holds: every e-mail address, phone number (any human format) and id-like token of the text is
    keyed-hashed per identity kind and matched."""
    if texts.height == 0:
        return []
    from lethe.ingest.normalise import tenant_regions

    regions = {tenant: tenant_regions(con, tenant) for tenant in texts["tenant"].unique().to_list()}
    con.register("_refused", texts.select("tenant", "rel", "text"))
    try:
        _phone_values(con, regions)
        # each text's candidate values per identity kind; an id-like token may be a CRM or a Connect contact id
        con.execute(
            """
            create or replace temp table _refused_values as
            with tokens as materialized (select tenant, rel, unnest(regexp_extract_all(text, $token)) as v from _refused)
            select tenant, rel, 'email' as kind, lower(unnest(regexp_extract_all(text, $email))) as v from _refused
            union all select tenant, rel, 'phone', v from _refused_phones
            union all select tenant, rel, 'contact', v from tokens
            union all select tenant, rel, 'connect_contact', v from tokens
            """,
            {"token": TOKEN_RE, "email": EMAIL_RE},
        )
        hits = " union ".join(
            f"select c.tenant, c.rel, t.identity_hash from _refused_values c join {identities} t "
            f"on t.tenant_id = c.tenant and t.kind = c.kind "
            f"and t.identity_hash = {sql_keyed_hash('c.tenant', kind, 'c.v')} where c.kind = '{kind}'"
            for kind in ("email", "phone", "contact", "connect_contact")
        )
        return [tuple(r) for r in con.execute(f"select distinct * from ({hits}) order by all").fetchall()]
    finally:
        con.unregister("_refused")
        con.execute("drop table if exists _refused_values")
        con.execute("drop table if exists _refused_phones")


def scrub_refused(con: duckdb.DuckDBPyConnection, landing: Path) -> list[tuple[str, str]]:
    """Delete every refused landing file holding a tombstoned identity; return their (tenant, relative path).
    The ingest manifest marks them 'purged'."""
    if not _any_tombstone(con):
        return []  # nobody erased yet: no refused file needs reading (every ingest passes here)
    candidates = refused_files(con, landing)
    if not candidates:
        return []
    frame = pl.DataFrame({"tenant": [t for t, _ in candidates], "rel": [r for _, r in candidates],
                          "text": [_text(landing / rel) for _, rel in candidates]},
                         schema={"tenant": pl.String, "rel": pl.String, "text": pl.String})
    found = tombstoned_texts(con, frame)
    # marked before they go: killed in between, a file still there is read again (and deleted) by the next
    # ingest; deleted first, a file gone whose manifest row still says refused would never be marked or hidden
    if found and catalog.table_exists(con, "lethe_meta", "manifest"):
        con.execute("update lethe_meta.manifest set status = 'purged' where list_contains(?, path)",
                    [[rel for _, rel in found]])
    for _, rel in found:
        (landing / rel).unlink(missing_ok=True)
    if found:
        log.warning("%d refused landing file(s) held an erased subject's identity: deleted", len(found))
    return found
