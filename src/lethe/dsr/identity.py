"""Who a data-subject request names: a contact id, an email or a phone in any human format, resolved to one person."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from lethe import catalog
from lethe.errors import IdentityError
from lethe.keys import sql_keyed_hash

log = logging.getLogger(__name__)

DEFAULT_REGION = "GB"


@dataclass(frozen=True)
class SubjectRef:
    """What the requester gave us: exactly one of a Salesforce Contact Id, an email or a phone."""

    contact_id: str | None = None
    email: str | None = None
    phone: str | None = None

    def describe(self) -> str:
        if self.contact_id:
            return f"contact id {self.contact_id!r}"
        if self.email:
            return f"email {self.email!r}"
        return f"phone {self.phone!r}"


@dataclass(frozen=True)
class Subject:
    """One resolved data subject of one tenant: the CRM contact (if any) and every address they use."""

    tenant_id: str
    contact_id: str | None
    individual_id: str | None
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    kept_key: str | None = None  # the key the Individual was first given (kept_keys), when it has one


def normalise_phone(value: str, region: str = DEFAULT_REGION) -> str:
    """E.164 form of a phone in any human format, as ingest reads the landing zone's phones, or IdentityError
    naming the value."""
    from lethe.ingest.normalise import e164

    number = e164(value, region)
    if number is None:
        raise IdentityError(f"--phone {value!r} is not a phone number")
    return number


def _email(ref: SubjectRef) -> str | None:
    """The email a reference names, as staging normalises it (trimmed, lower case)."""
    return ref.email.strip().lower() if ref.email else None


def normalised_address(con: duckdb.DuckDBPyConnection, ref: SubjectRef, subject: Subject) -> tuple[str | None, str | None]:
    """The email and the E.164 phone a reference names, as staging normalises them; a phone in national format as
    the reading of it (phone_candidates) that `subject`, the person resolve found by it, holds."""
    if not ref.phone:
        return _email(ref), None
    return _email(ref), next((p for p in phone_candidates(con, subject.tenant_id, ref.phone) if p in subject.phones), None)


def phone_candidates(con: duckdb.DuckDBPyConnection, tenant_id: str, value: str) -> tuple[str, ...]:
    """Every E.164 number a phone as given may be, as ingest normalised the tenant's phones: one in international
    format (leading '+') as written; one in national format read in each region ingest may have parsed the
    tenant's phones in (lethe.ingest.normalise.tenant_regions: the tenant's region first). IdentityError naming
    the value if it is a phone number in none of them."""
    from lethe.ingest.normalise import tenant_regions

    if value.strip().startswith("+"):
        return (normalise_phone(value),)
    regions = tenant_regions(con, tenant_id)
    found = readings_in(value, regions)
    if not found:
        normalise_phone(value, regions[0])  # raises, naming the value
    return found


def readings_in(value: str, regions: Sequence[str]) -> tuple[str, ...]:
    """The E.164 readings of a phone in each of these regions it is a valid number in, first first, without
    repeats (none when it is a number in none of them)."""
    found: list[str] = []
    for region in regions:
        try:
            found.append(normalise_phone(value, region))
        except IdentityError:
            continue
    return tuple(dict.fromkeys(found))


def _seen(con: duckdb.DuckDBPyConnection, tenant_id: str, addresses: list[str]) -> list[str]:
    """Of these addresses, those the tenant's calls or mails carry (a subject known without a CRM contact)."""
    seen: set[str] = set()
    for table, column in (("contact_records", "customer_address"), ("email_events", "email")):
        if addresses and catalog.table_exists(con, "raw", table):
            seen |= {a for (a,) in con.execute(
                f"select distinct {column} from raw.{table} where tenant_id = ? "  # noqa: S608
                f"and {column} in (select unnest(?::varchar[]))",
                [tenant_id, addresses],
            ).fetchall()}
    return [a for a in addresses if a in seen]


def unheld_previous_addresses_sql() -> str:
    """SQL relation (tenant_id, contact_id, address): the addresses CRM contacts held before (catalog.
    PREVIOUS_ADDRESSES) that no CRM contact holds now. The marts give such an address to the person whose contact
    held it (its mails, calls and unsubscribes are theirs to see, export and erase); one held now is its holder's.
    Read by the DSR resolution, the pipeline's DSR matcher and the purge plan."""
    return (f"(select p.tenant_id, p.contact_id, p.address from {catalog.PREVIOUS_ADDRESSES} p "  # noqa: S608
            "where not exists (select 1 from raw.crm_contacts h where h.tenant_id = p.tenant_id "
            "and p.address in (h.email, h.phone, h.mobile_phone)))")


def kept_keys(con: duckdb.DuckDBPyConnection, people: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The subject key each of these (tenant_id, individual_id) was first given (catalog.SUBJECT_KEYS, kept by the
    identity model so a person's key survives the retirement of the contact it came from); one query."""
    if not people or not catalog.table_exists(con, *catalog.SUBJECT_KEYS.split(".")):
        return {}
    rows = con.execute(
        f"select tenant_id, individual_id, subject_key from {catalog.SUBJECT_KEYS} "  # noqa: S608
        "where list_contains($keys::varchar[], tenant_id || chr(31) || individual_id)",
        {"keys": sorted({f"{t}\x1f{i}" for t, i in people})},
    ).fetchall()
    return {(t, i): k for t, i, k in rows}


def _has_previous_addresses(con: duckdb.DuckDBPyConnection) -> bool:
    return catalog.table_exists(con, *catalog.PREVIOUS_ADDRESSES.split("."))


def _previous_addresses(con: duckdb.DuckDBPyConnection, tenant_id: str, contact_ids: list[str]) -> set[str]:
    """The addresses these CRM contacts held before that no CRM contact holds now."""
    if not contact_ids or not _has_previous_addresses(con):
        return set()
    return {a for (a,) in con.execute(
        f"select distinct address from {unheld_previous_addresses_sql()} p "  # noqa: S608
        "where tenant_id = ? and list_contains(?::varchar[], contact_id)",
        [tenant_id, contact_ids],
    ).fetchall()}


def _nobody(con: duckdb.DuckDBPyConnection, tenant_id: str, ref: SubjectRef,
            identities: list[tuple[str, str]]) -> IdentityError:
    """The refusal of a reference that matches nobody, saying why when Lethe knows: nothing of the tenant has been
    ingested yet (so it cannot tell), or the person was erased (a tombstone of the identity: when, by which run)."""
    nobody = f"{ref.describe()} matches nobody in tenant {tenant_id!r}"
    ingested = catalog.table_exists(con, "lethe_meta", "manifest") and con.execute(
        "select count(*) from lethe_meta.manifest where tenant_id = ? and status <> 'quarantined'", [tenant_id]
    ).fetchone()[0]
    if not ingested:
        return IdentityError(f"{nobody}: nothing of the tenant has been ingested yet (run 'lethe ingest' first)")
    if catalog.table_exists(con, "lethe_meta", "tombstones"):
        for kind, value in identities:
            erased = con.execute(
                f"select min(erased_at), arg_min(run_id, erased_at) from lethe_meta.tombstones where tenant_id = $t "  # noqa: S608
                f"and kind = '{kind}' and identity_hash = {sql_keyed_hash('$t', kind, '$v')}",
                {"t": tenant_id, "v": value},
            ).fetchone()
            if erased[0] is not None:
                return IdentityError(f"{nobody}: erased at {erased[0]:%Y-%m-%d %H:%M} UTC by run {erased[1]} "
                                     "(what arrives of them again is dropped at ingest)")
    return IdentityError(nobody)


def resolve(con: duckdb.DuckDBPyConnection, tenant_id: str, ref: SubjectRef) -> Subject:
    """The one person the reference names in this tenant; IdentityError if nobody or several match.

    A phone in national format may be one of several numbers (phone_candidates): all are looked up, and
    more than one person among them is refused like any other ambiguity, never guessed."""
    given = [v for v in (ref.contact_id, ref.email, ref.phone) if v]
    if len(given) != 1:
        raise IdentityError("name the subject with exactly one of --contact-id, --email or --phone")
    email = _email(ref)
    phones = list(phone_candidates(con, tenant_id, ref.phone)) if ref.phone else []
    contacts: list[tuple] = []
    if catalog.table_exists(con, "raw", "crm_contacts"):
        contacts = con.execute(
            """
            select id, individual_id, email, phone, mobile_phone
            from raw.crm_contacts
            where tenant_id = $tenant
              and (id = $cid or email = $email
                   or list_contains($phones::varchar[], phone) or list_contains($phones::varchar[], mobile_phone))
            order by id
            """,
            {"tenant": tenant_id, "cid": ref.contact_id, "email": email, "phones": phones},
        ).fetchall()
    if not contacts and (email or phones) and _has_previous_addresses(con):
        # no contact holds the address now: one that held it before is the person the marts give it to
        contacts = con.execute(
            f"""
            select id, individual_id, email, phone, mobile_phone
            from raw.crm_contacts
            where tenant_id = $tenant and id in (
                select contact_id from {unheld_previous_addresses_sql()} p
                where tenant_id = $tenant and (address = $email or list_contains($phones::varchar[], address)))
            order by id
            """,  # noqa: S608
            {"tenant": tenant_id, "email": email, "phones": phones},
        ).fetchall()
    people = {ind or cid for cid, ind, *_ in contacts}  # contacts sharing an Individual are one person
    if len(people) > 1:
        ids = ", ".join(c[0] for c in contacts[:5])
        raise IdentityError(
            f"{ref.describe()} matches {len(people)} people in tenant {tenant_id!r} (CRM contacts {ids}); "
            "name the subject by --contact-id"
        )
    if contacts:
        ind = contacts[0][1]
        if ind is not None:  # the person's every contact (an old duplicate, say), as the marts resolve them
            contacts = con.execute(
                "select id, individual_id, email, phone, mobile_phone from raw.crm_contacts "
                "where tenant_id = ? and individual_id = ? order by id",
                [tenant_id, ind],
            ).fetchall()
        old = _previous_addresses(con, tenant_id, [c[0] for c in contacts])
        theirs = {p for c in contacts for p in (c[3], c[4]) if p} | {a for a in old if "@" not in a}
        others = _seen(con, tenant_id, [p for p in phones if p not in theirs])
        if others:  # another reading of a national-format number is someone's too: never guess which was meant
            raise IdentityError(
                f"{ref.describe()} matches {1 + len(others)} people in tenant {tenant_id!r} (CRM contact "
                f"{contacts[0][0]}, and calls by another number it may be); name the subject by --contact-id "
                "or give the phone in international format"
            )
        emails = tuple(sorted({e for c in contacts for e in (c[2], email) if e} | {a for a in old if "@" in a}))
        kept = kept_keys(con, [(tenant_id, ind)]).get((tenant_id, ind)) if ind is not None else None
        # keyed by the key the Individual was first given, else by the smallest Contact Id
        return Subject(tenant_id, contacts[0][0], ind, emails, tuple(sorted(theirs)), kept)
    if ref.contact_id:
        raise _nobody(con, tenant_id, ref, [("contact", ref.contact_id)])
    seen = _seen(con, tenant_id, [email] if email else phones)
    if not seen:
        raise _nobody(con, tenant_id, ref, [("email", email)] if email else [("phone", p) for p in phones])
    if len(seen) > 1:
        raise IdentityError(
            f"{ref.describe()} matches {len(seen)} people in tenant {tenant_id!r} (calls by {len(seen)} numbers it "
            "may be); give the phone in international format"
        )
    log.info("subject known only by address (no CRM contact)")
    return Subject(tenant_id, None, None, (email,) if email else (), tuple(seen) if phones else ())
