"""Named withdrawal-risk scenario: a hand-built raw layer (INTERFACES columns) for one tenant, judged at AS_OF.

- ada:  mailed every Monday since December, opens every mail, never withdraws
- ben:  opens until March, then stops; calls the complaints queue; unsubscribes on 2026-04-20
- cora: like ada, but objects to profiling (HasOptedOutProfiling): never in the model's input
- dan:  stops opening in April, opens the 2026-05-04 mail two days late, then three unopened sends (streak 3)
- eve:  opted out of email in the CRM (HasOptedOutOfEmail, modified 2026-05-20)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

TENANT = "acme-energy"
AS_OF = "2026-06-01T00:00:00"
FIRST_SEND = datetime(2025, 12, 1, 9, 0)  # a Monday
MARKETING = "pur-mkt"
NAMES = ("ada", "ben", "cora", "dan", "eve")


def _ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def email(name: str) -> str:
    """The named subject's email address."""
    return f"{name}@example.com"


def _mail(name: str, n: int, at: datetime, event: str) -> dict[str, Any]:
    return {
        "sg_event_id": f"e-{name}-{n}-{event}",
        "email": email(name),
        "event_at": _ts(at),
        "event": event,
        "sg_message_id": f"msg-{name}-{n}",
        "categories": ["newsletter"],
        "campaign_id": "cmp-news",
    }


def _weekly_sends(name: str, until: datetime, opened) -> list[dict[str, Any]]:
    """A newsletter every Monday from FIRST_SEND until `until`; opened(send_at) says if it was opened an hour later."""
    rows: list[dict[str, Any]] = []
    n, at = 0, FIRST_SEND
    while at < until:
        rows.append(_mail(name, n, at, "processed"))
        rows.append(_mail(name, n, at + timedelta(seconds=5), "delivered"))
        if opened(at):
            rows.append(_mail(name, n, at + timedelta(hours=1), "open"))
            rows.append(_mail(name, n, at + timedelta(hours=2), "open"))  # a second open of the same mail
        n, at = n + 1, at + timedelta(days=7)
    return rows


def _contact(name: str, **flags: Any) -> dict[str, Any]:
    return {
        "id": f"c-{name}",
        "individual_id": f"ind-{name}",
        "first_name": name.title(),
        "last_name": "Example",
        "email": email(name),
        "phone": None,
        "has_opted_out_of_email": flags.get("email_opt_out", False),
        "do_not_call": False,
        "created_date": "2025-01-01 00:00:00",
        "last_modified_date": flags.get("modified", "2025-06-01 00:00:00"),
        "customer_status": "active",
    }


def _individual(name: str, objects: bool = False) -> dict[str, Any]:
    return {
        "id": f"ind-{name}",
        "has_opted_out_processing": False,
        "has_opted_out_profiling": objects,
        "has_opted_out_solicit": False,
        "should_forget": False,
        "send_individual_data": False,
        "last_modified_date": "2025-06-01 00:00:00",
    }


def _consent(name: str) -> dict[str, Any]:
    return {
        "id": f"cptc-{name}",
        "party_id": f"ind-{name}",
        "contact_point_type": "Email",
        "data_use_purpose_id": MARKETING,
        "privacy_consent_status": "OptIn",
        "capture_date": "2025-06-01 10:00:00",
        "capture_source": "web_form",
        "effective_from": "2025-06-01 10:00:00",
        "last_modified_date": "2025-06-01 10:00:00",
        "capture_method": "explicit_opt_in",
        "notice_version": "v3",
    }


def _call(name: str, n: int, at: datetime, queue: str) -> dict[str, Any]:
    return {
        "contact_id": f"ctr-{name}-{n}",
        "channel": "VOICE",
        "initiation_method": "INBOUND",
        "initiation_timestamp": _ts(at),
        "disconnect_timestamp": _ts(at + timedelta(minutes=5)),
        "last_update_timestamp": _ts(at + timedelta(minutes=5)),
        "customer_address": email(name),
        "customer_address_type": "EMAIL_ADDRESS",
        "agent_username": "agent.one",
        "queue_name": queue,
        "attributes": "{}",
    }


def scenario_rows() -> dict[str, list[dict[str, Any]]]:
    """raw.* rows of the named subjects (see the module docstring)."""
    end = datetime(2026, 6, 1)
    dan_open = datetime(2026, 5, 4, 9, 0)  # the Monday mail of 2026-05-04 is opened two days later
    email_events = (
        _weekly_sends("ada", end, lambda at: True)
        + _weekly_sends("ben", datetime(2026, 4, 20), lambda at: at < datetime(2026, 3, 1))
        + _weekly_sends("cora", end, lambda at: True)
        + _weekly_sends("dan", end, lambda at: at < datetime(2026, 4, 13))
        + _weekly_sends("eve", end, lambda at: at < datetime(2026, 4, 1))
        + [
            {**_mail("dan", 99, dan_open + timedelta(days=2), "open"), "sg_message_id": "msg-dan-22"},
            _mail("ben", 99, datetime(2026, 4, 20, 12, 0), "unsubscribe"),
        ]
    )
    contact_records = [
        _call("ben", 1, datetime(2026, 4, 2, 10, 0), "Complaints"),
        _call("ben", 2, datetime(2026, 4, 9, 10, 0), "Complaints"),
        _call("ada", 1, datetime(2026, 3, 2, 10, 0), "Billing"),
    ]
    rows = {
        "crm_contacts": [
            _contact(name, email_opt_out=True, modified="2026-05-20 08:00:00") if name == "eve" else _contact(name)
            for name in NAMES
        ],
        "crm_individuals": [_individual(name, objects=name == "cora") for name in NAMES],
        "crm_consents": [_consent(name) for name in NAMES],
        "crm_purposes": [{"id": MARKETING, "name": "Marketing", "description": "Offers and newsletters"}],
        "email_events": email_events,
        "contact_records": contact_records,
    }
    return {dataset: [{"tenant_id": TENANT, **row} for row in records] for dataset, records in rows.items()}
