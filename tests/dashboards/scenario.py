"""A small named scenario warehouse in the INTERFACES.md layout, for snapshot and dashboard tests.

Two tenants: acme-energy (clean loads, one quarantined email) and cobalt-insurance (a truncated
gzip quarantined whole). Alice Archer (acme) is in the email audience; Bob Baker (acme) withdrew;
Carla Cruz (cobalt) has an overdue erasure request and a recording 10 days past due.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from lethe.keys import keyed_hash
from lethe.settings import Settings, load_settings

KEY = "test-secret-key"
TENANTS = ("acme-energy", "cobalt-insurance")
PEOPLE = {
    # crm id: (tenant, first, last, email, phone)
    "003A": ("acme-energy", "Alice", "Archer", "alice.archer@example.com", "+447700900001"),
    "003B": ("acme-energy", "Bob", "Baker", "bob.baker@example.com", "+447700900002"),
    "003C": ("cobalt-insurance", "Carla", "Cruz", "carla.cruz@example.com", "+447700900003"),
}


def subject_key(crm_id: str) -> str:
    tenant = PEOPLE[crm_id][0]
    return keyed_hash(KEY.encode(), tenant, "contact", crm_id)


def settings_for(home: Path) -> Settings:
    return load_settings(
        {"LETHE_HOME": str(home), "LETHE_SECRET_KEY": KEY, "LETHE_AS_OF": "2026-03-01T00:00:00Z"}
    )


def build_warehouse(home: Path, marts: bool = True) -> Settings:
    """Write the scenario warehouse (and audit / run logs) under `home`; return its settings."""
    settings = settings_for(home)
    home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse))
    for schema in ("raw", "quarantine", "lethe_meta", "marts"):
        con.execute(f"create schema if not exists {schema}")
    con.execute(
        """
        create or replace table lethe_meta.manifest as select * from (values
          ('acme-energy/crm/contacts/c1.csv', 'acme-energy', 'crm_contacts', 900, 'aa', 'b1', timestamp '2026-02-28 10:00', 'loaded', 2, 0, 0),
          ('acme-energy/email_events/e1.json', 'acme-energy', 'email_events', 4000, 'bb', 'b1', timestamp '2026-02-28 10:00', 'loaded', 40, 1, 3),
          ('cobalt-insurance/crm/contacts/c1.csv', 'cobalt-insurance', 'crm_contacts', 500, 'cc', 'b1', timestamp '2026-02-28 10:00', 'loaded', 1, 0, 0),
          ('cobalt-insurance/contact_records/r1.jsonl.gz', 'cobalt-insurance', 'contact_records', 77, 'dd', 'b1', timestamp '2026-02-28 10:00', 'quarantined', 0, 0, 0)
        ) t(path, tenant_id, dataset, size_bytes, sha256, batch_id, loaded_at, status, rows_loaded, rows_quarantined, duplicates_skipped)
        """
    )
    con.execute(
        """
        create or replace table quarantine.rows as select * from (values
          ('acme-energy', 'email_events', 'acme-energy/email_events/e1.json', 7::bigint, 'email_format',
           'invalid email ''not-an-email@'' in field email', '{"email": "dave@@example"}', 'b1', timestamp '2026-02-28 10:00')
        ) t(tenant_id, dataset, source_file, source_row, rule, reason, record, batch_id, quarantined_at)
        """
    )
    con.execute(
        """
        create or replace table quarantine.files as select * from (values
          ('cobalt-insurance', 'contact_records', 'cobalt-insurance/contact_records/r1.jsonl.gz',
           'truncated gzip: unexpected end of stream', 'b1', timestamp '2026-02-28 10:00')
        ) t(tenant_id, dataset, source_file, reason, batch_id, quarantined_at)
        """
    )
    rows = [(t, cid, f, la, e, p) for cid, (t, f, la, e, p) in PEOPLE.items()]
    con.execute(
        "create or replace table raw.crm_contacts (tenant_id varchar, id varchar, first_name varchar, "
        "last_name varchar, email varchar, phone varchar, mobile_phone varchar)"
    )
    con.executemany("insert into raw.crm_contacts values (?, ?, ?, ?, ?, ?, null)", rows)
    if marts:
        a, b, c = subject_key("003A"), subject_key("003B"), subject_key("003C")
        con.execute(
            """
            create or replace table marts.retention_due as select * from (values
              ('cobalt-insurance', 'interaction.recording', 'retention_expired', 'delete', 'recordings', 'R1', $c, timestamp '2025-11-21', timestamp '2026-02-19', 10),
              ('cobalt-insurance', 'crm.contact', 'erasure_request', 'delete', 'crm_contacts', '003C', $c, timestamp '2026-01-01', timestamp '2026-01-01', 59),
              ('acme-energy', 'campaign.event', 'retention_expired', 'delete', 'email_events', 'sg1', $b, timestamp '2025-01-01', timestamp '2026-03-01', 0)
            ) t(tenant_id, data_category, reason, action, source_table, record_id, subject_key, anchor_at, due_at, days_past_due)
            """,
            {"b": b, "c": c},
        )
        con.execute(
            """
            create or replace table marts.audience as select * from (values
              ('acme-energy', 'Newsletter', 'email', $a, 'alice.archer@example.com'),
              ('acme-energy', 'Newsletter', 'sms', $a, '+447700900001'),
              ('cobalt-insurance', 'Offers', 'email', $c, 'carla.cruz@example.com')
            ) t(tenant_id, purpose, channel, subject_key, address)
            """,
            {"a": a, "c": c},
        )
        con.execute(
            """
            create or replace table marts.consent_status as select * from (values
              ('acme-energy', 'Newsletter', 'email', $a, 'valid'),
              ('acme-energy', 'Newsletter', 'email', $b, 'withdrawn'),
              ('cobalt-insurance', 'Offers', 'email', $c, 'defective_evidence')
            ) t(tenant_id, purpose, channel, subject_key, status)
            """,
            {"a": a, "b": b, "c": c},
        )
        con.execute(
            """
            create or replace table marts.dsr_requests as select * from (values
              ('cobalt-insurance', 'DSR-1', 'erasure', $c, timestamp '2026-01-01', timestamp '2026-01-31', 'overdue', -29),
              ('acme-energy', 'DSR-2', 'access', $a, timestamp '2026-02-20', timestamp '2026-03-22', 'open', 21)
            ) t(tenant_id, request_id, type, subject_key, received_at, due_at, status, days_left)
            """,
            {"a": a, "c": c},
        )
    con.close()
    settings.audit_log.parent.mkdir(parents=True, exist_ok=True)
    settings.audit_log.write_text(
        json.dumps(
            {
                "run_id": "purge-1",
                "ts": "2026-02-28T11:00:00+00:00",
                "event": "executed",
                "records_total": 12,
                "prev_hash": "",
            }
        )
        + "\n"
    )
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    (settings.runs_dir / "runs.jsonl").write_text(
        json.dumps(
            {
                "dag_id": "lethe_ingest",
                "run_id": "r1",
                "state": "success",
                "end_date": "2026-02-28T10:05:00+00:00",
            }
        )
        + "\n"
    )
    (settings.runs_dir / "failures.jsonl").write_text(
        json.dumps(
            {
                "dag_id": "lethe_enforce",
                "task_id": "purge",
                "run_id": "r2",
                "reason": "guard: share 40% > 25%",
            }
        )
        + "\n"
    )
    return settings
