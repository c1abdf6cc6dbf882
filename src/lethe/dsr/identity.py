"""Who a data-subject request names: a contact id, an email or a phone in any human format, resolved to one person."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
import phonenumbers

from lethe import catalog
from lethe.errors import IdentityError

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


def normalise_phone(value: str, region: str = DEFAULT_REGION) -> str:
    """E.164 form of a phone in any human format, or IdentityError naming the value."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise IdentityError(f"--phone {value!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        raise IdentityError(f"--phone {value!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalised_address(ref: SubjectRef) -> tuple[str | None, str | None]:
    """The email (trimmed, lower case) and the E.164 phone a reference names, as staging normalises them."""
    return (ref.email.strip().lower() if ref.email else None, normalise_phone(ref.phone) if ref.phone else None)


def resolve(con: duckdb.DuckDBPyConnection, tenant_id: str, ref: SubjectRef) -> Subject:
    """The one person the reference names in this tenant; IdentityError if nobody or several match."""
    given = [v for v in (ref.contact_id, ref.email, ref.phone) if v]
    if len(given) != 1:
        raise IdentityError("name the subject with exactly one of --contact-id, --email or --phone")
    email, phone = normalised_address(ref)
    contacts: list[tuple] = []
    if catalog.table_exists(con, "raw", "crm_contacts"):
        contacts = con.execute(
            """
            select id, individual_id, email, phone, mobile_phone
            from raw.crm_contacts
            where tenant_id = $tenant
              and (id = $cid or email = $email or phone = $phone or mobile_phone = $phone)
            order by id
            """,
            {"tenant": tenant_id, "cid": ref.contact_id, "email": email, "phone": phone},
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
        emails = tuple(sorted({e for c in contacts for e in (c[2], email) if e}))
        phones = tuple(sorted({p for c in contacts for p in (c[3], c[4], phone) if p}))
        return Subject(tenant_id, contacts[0][0], ind, emails, phones)  # keyed by the smallest Contact Id
    if ref.contact_id:
        raise IdentityError(f"{ref.describe()} matches nobody in tenant {tenant_id!r}")
    address = email or phone
    seen = 0
    if catalog.table_exists(con, "raw", "contact_records"):
        seen += con.execute(
            "select count(*) from raw.contact_records where tenant_id = ? and customer_address = ?", [tenant_id, address]
        ).fetchone()[0]
    if email and catalog.table_exists(con, "raw", "email_events"):
        seen += con.execute(
            "select count(*) from raw.email_events where tenant_id = ? and email = ?", [tenant_id, email]
        ).fetchone()[0]
    if not seen:
        raise IdentityError(f"{ref.describe()} matches nobody in tenant {tenant_id!r}")
    log.info("subject known only by address (no CRM contact)")
    return Subject(tenant_id, None, None, (email,) if email else (), (phone,) if phone else ())
