"""Restriction, objection and rectification requests made on the command line (`lethe dsar restrict|object|rectify`).

They are written into raw.dsr_requests, the table the DSR CSVs load into, marked by `_source_file`
(`cli:lethe dsar <command>`), so the next build honours them exactly like a CSV request.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from lethe.dsr.identity import SubjectRef, normalised_address, resolve
from lethe.policy import load_policy
from lethe.settings import Settings
from lethe.warehouse import connect

log = logging.getLogger(__name__)

KINDS = {"restrict": "restriction", "object": "objection", "rectify": "rectification"}
SOURCE_MARKER = "cli:lethe dsar"


@dataclass(frozen=True)
class RecordedRequest:
    """A request written into raw.dsr_requests (no personal data beyond what the requester named)."""

    tenant: str
    request_id: str
    type: str
    received_at: datetime

    def render(self) -> str:
        effect = {
            "restriction": "excluded from audiences and scoring, and shown as restricted, from the next `lethe build`",
            "objection": "excluded from audiences and profiling from the next `lethe build`",
            "rectification": "tracked until the corrected CRM record arrives",
        }[self.type]
        return f"recorded {self.type} request {self.request_id} in tenant {self.tenant}: {effect}"


def record_request(settings: Settings, tenant: str, ref: SubjectRef, command: str, details: str | None = None) -> RecordedRequest:
    """Resolve the subject (refusing nobody or several) and record a verified request of this kind for them."""
    kind = KINDS[command]
    load_policy(settings.tenants_file).tenant(tenant)
    at = settings.as_of.astimezone(UTC).replace(tzinfo=None)
    request_id = f"cli-{kind}-{uuid.uuid4().hex[:12]}"
    con = connect(settings)
    try:
        subject = resolve(con, tenant, ref)
        _ensure_table(con)
        # what the requester named, normalised as staging does (a phone in national format as the number it
        # resolved to: read as a UK number it could be someone else's), plus the CRM contact it resolved to
        email, phone = normalised_address(con, ref, subject)
        con.execute(
            """
            insert into raw.dsr_requests (tenant_id, request_id, received_at, type, crm_contact_id, subject_email,
                                          subject_phone, verified_at, details, _source_file, _source_row, _batch_id,
                                          _loaded_at)
            values ($tenant, $id, $at, $type, $cid, $email, $phone, $at, $details, $source, 0, $batch, $now)
            """,
            {"tenant": tenant, "id": request_id, "at": at, "type": kind, "cid": subject.contact_id, "email": email,
             "phone": phone, "details": details, "source": f"{SOURCE_MARKER} {command}", "batch": "cli",
             "now": datetime.now(UTC).replace(tzinfo=None)},
        )
    finally:
        con.close()
    log.info("recorded %s request %s", kind, request_id)
    return RecordedRequest(tenant, request_id, kind, at)


def _ensure_table(con) -> None:
    """raw.dsr_requests exists once anything was ingested; create it (from its contract) if not."""
    from lethe.contracts import load_all_contracts
    from lethe.ingest import schema

    contracts = load_all_contracts()
    schema.ensure(con, {"dsr_requests": contracts["dsr_requests"]})
