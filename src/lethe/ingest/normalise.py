"""Normalise identities in the staging table: emails to lower case, phones to E.164.

`phonenumbers` runs on the DISTINCT (raw phone, region) pairs only; the result is joined back.
The default region is the row's MailingCountry for CRM contacts, else the tenant's most common
MailingCountry, else GB.
"""

# ruff: noqa: S608 -- SQL is generated from contract identifiers, quoted with q(); values with _lit() or bound.

from __future__ import annotations

import logging
import re

import duckdb
import phonenumbers
import pyarrow as pa

from lethe import catalog
from lethe.contracts import Contract
from lethe.contracts.rules import q
from lethe.ingest.parse import STAGE

log = logging.getLogger(__name__)

DEFAULT_REGION = "GB"
COUNTRIES = {
    "united kingdom": "GB", "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "ireland": "IE", "germany": "DE", "deutschland": "DE", "france": "FR",
    "spain": "ES", "españa": "ES", "italy": "IT", "netherlands": "NL", "the netherlands": "NL", "belgium": "BE",
    "portugal": "PT", "sweden": "SE", "denmark": "DK", "norway": "NO", "finland": "FI", "poland": "PL",
    "austria": "AT", "switzerland": "CH", "luxembourg": "LU", "united states": "US", "usa": "US",
    "canada": "CA", "australia": "AU", "new zealand": "NZ",
}


def _region_sql(column: str) -> str:
    """SQL mapping a country name or ISO code to an ISO 3166 alpha-2 region (NULL if unknown)."""
    cases = " ".join(f"when '{name.replace(chr(39), chr(39) * 2)}' then '{code}'" for name, code in COUNTRIES.items())
    key = f"lower(trim({column}))"
    return f"(case {key} {cases} else case when regexp_matches({key}, '^[a-z]{{2}}$') then upper({key}) end end)"


def tenant_regions(con: duckdb.DuckDBPyConnection, tenant: str) -> list[str]:
    """The regions of the MailingCountry values among the tenant's loaded CRM contacts, the most common first;
    [GB] if none: every region a phone of the tenant may have been parsed in (a contact's own country, else the
    tenant's region)."""
    if not catalog.table_exists(con, "raw", "crm_contacts"):
        return [DEFAULT_REGION]
    rows = con.execute(
        f"select region from (select {_region_sql('mailing_country')} as region from raw.crm_contacts "
        "where tenant_id = ?) where region is not null group by region order by count(*) desc, region",
        [tenant],
    ).fetchall()
    return [r for (r,) in rows] or [DEFAULT_REGION]


def tenant_region(con: duckdb.DuckDBPyConnection, tenant: str) -> str:
    """The tenant's most common MailingCountry among loaded CRM contacts, as a region; GB if none."""
    return tenant_regions(con, tenant)[0]


# a trailing extension, which phonenumbers reads and E.164 leaves out: '+44 20 7946 0000 ext. 12', '... x12'
_EXTENSION = re.compile(r"[\s,;]*(?:ext|extn|extension|x|#)\.?\s*[0-9]+\s*$", re.IGNORECASE)
# SQL: true where a phone field holds no digit, no '@' and no '.': not a mistyped number (nor a misplaced email)
# but a note that there is none ('n/a', 'none', '-', 'withheld', 'anonymous'), loaded as no phone
PLACEHOLDER_SQL = "not regexp_matches({col}, '[0-9@.]')"


def e164(raw: str, region: str) -> str | None:
    """The E.164 form of a phone in any human format, read in `region` unless it starts with '+'; None when it
    is no phone number: it does not parse, is not a possible number of its region, or holds words other than a
    trailing extension (phonenumbers reads letters as keypad digits: 'ext. 4411 ask for Jo' would become a
    number nobody has)."""
    text = raw.strip().removeprefix("tel:")
    if any(ch.isalpha() for ch in _EXTENSION.sub("", text)):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(con: duckdb.DuckDBPyConnection, contract: Contract, tenant: str) -> None:
    """Rewrite email and phone columns of `_stage` in place (set-based; phones parsed once per distinct value)."""
    emails = [p.name for p in contract.properties if p.format == "email"]
    phones = [p.name for p in contract.properties if p.format == "phone"]
    addresses = [p.name for p in contract.properties if p.format == "contact_address"]
    for col in emails:
        con.execute(f"update {STAGE} set {q(col)} = lower(trim({q(col)})) where {q(col)} is not null")
    for col in addresses:
        con.execute(f"update {STAGE} set {q(col)} = lower(trim({q(col)})) where {q(col)} like '%@%'")
    phone_cols = phones + addresses
    if not phone_cols:
        return
    for col in phone_cols:
        con.execute(f"update {STAGE} set {q(col)} = null where {PLACEHOLDER_SQL.format(col=q(col))}")
    default = tenant_region(con, tenant) if tenant != "_centre" else DEFAULT_REGION
    has_country = "mailing_country" in contract.column_names
    region = f"coalesce({_region_sql('mailing_country')}, '{default}')" if has_country else f"'{default}'"
    union = " union ".join(
        f"select {q(c)} as raw, {region} as region from {STAGE} where {q(c)} is not null and {q(c)} not like '%@%'"
        for c in phone_cols
    )
    pairs = con.execute(f"select distinct raw, region from ({union})").fetchall()
    mapped = pa.table({
        "raw": [r for r, _ in pairs],
        "region": [g for _, g in pairs],
        "e164": [e164(r, g) for r, g in pairs],
    })
    con.register("_phones", mapped)
    try:
        for col in phone_cols:
            con.execute(f"""
                update {STAGE} s set {q(col)} = m.e164
                from _phones m
                where m.raw = s.{q(col)} and m.region = {region.replace('mailing_country', 's.mailing_country')}
                  and m.e164 is not null
            """)
    finally:
        con.unregister("_phones")
    log.debug("%s/%s: normalised %d distinct phone strings", tenant, contract.dataset, len(pairs))
