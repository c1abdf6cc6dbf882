"""A small named scenario warehouse in the INTERFACES.md layout, for snapshot and dashboard tests.

Two tenants: acme-energy (clean loads, one quarantined email) and cobalt-insurance (a truncated
gzip quarantined whole). Alice Archer (acme) is in the email audience; Bob Baker (acme) withdrew;
Carla Cruz (cobalt) has an overdue erasure request and a recording 10 days past due; one purge
run (12 records) is in the audit log. The real generated snapshot (real_home.py) is the main fixture;
this one is for publish edge cases (masking, atomic swap, corrupt logs, nothing built).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from lethe import audit
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
            create or replace table marts.audience_eligible as select * from (values
              ('acme-energy', 'P1', 'Newsletter', 'email', $a, 'alice.archer@example.com', 'C1', timestamp '2025-06-01', timestamp '2026-03-01'),
              ('acme-energy', 'P1', 'Newsletter', 'sms', $a, '+447700900001', 'C2', timestamp '2025-06-01', timestamp '2026-03-01'),
              ('cobalt-insurance', 'P2', 'Offers', 'email', $c, 'carla.cruz@example.com', 'C3', timestamp '2025-06-01', timestamp '2026-03-01')
            ) t(tenant_id, purpose_id, purpose_name, channel, subject_key, address, consent_id, consent_captured_at, as_of)
            """,
            {"a": a, "c": c},
        )
        con.execute(
            """
            create or replace table marts.fct_consent_status as select * from (values
              ('acme-energy', $a, 'P1', 'email', 'Newsletter', true, 'granted', 'valid', true, timestamp '2025-06-01', timestamp '2026-03-01'),
              ('acme-energy', $b, 'P1', 'email', 'Newsletter', true, 'withdrawn', 'withdrawn', false, timestamp '2026-02-01', timestamp '2026-03-01'),
              ('cobalt-insurance', $c, 'P2', 'email', 'Offers', true, 'granted', 'pre_ticked_box', false, timestamp '2025-01-01', timestamp '2026-03-01')
            ) t(tenant_id, subject_key, purpose_id, channel, purpose_name, is_marketing, consent_status, validity_reason, is_valid, status_since, as_of)
            """,
            {"a": a, "b": b, "c": c},
        )
        con.execute(
            """
            create or replace table marts.fct_dsr_requests as select * from (values
              ('cobalt-insurance', 'DSR-1', $c, 'erasure', true, timestamp '2026-01-01', timestamp '2026-01-31', 'overdue', -29),
              ('acme-energy', 'DSR-2', $a, 'access', true, timestamp '2026-02-20', timestamp '2026-03-22', 'open', 21)
            ) t(tenant_id, request_id, subject_key, request_type, is_subject_found, received_at, due_at, status, days_left)
            """,
            {"a": a, "c": c},
        )
        con.execute(
            """
            create or replace table marts.fct_agent_training_gaps as select * from (values
              ('acme-energy', 'sam.agent@acme', 'K1', 'VOICE', 'score_below_90', 72, timestamp '2026-02-20', timestamp '2025-12-01')
            ) t(tenant_id, agent_username, contact_id, channel, gap_reason, exam_score, contacted_at, training_completed_at)
            """
        )
    con.close()
    # a completed retention purge of 12 records, as lethe.purge audits it
    counts = [
        {"tenant": "acme-energy", "data_category": "campaign.event", "reason": "retention_expired",
         "action": "delete", "record_count": 9},
        {"tenant": "cobalt-insurance", "data_category": "crm.contact", "reason": "erasure_request",
         "action": "delete", "record_count": 3},
    ]
    audit.append(settings, "purge.planned", run_id="purge-1", kind="retention",
                 as_of="2026-02-28T00:00:00+00:00", counts=counts, records_total=12,
                 subject_keys=[subject_key("003C")])
    audit.append(settings, "purge.completed", run_id="purge-1", kind="retention",
                 as_of="2026-02-28T00:00:00+00:00", counts=[], records_total=40)
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


def add_duplicate_contact(settings: Settings) -> str:
    """Alice Archer's old CRM contact 003D (her previous email), which identity resolution merges into her
    subject (one Individual, keyed by the smallest Contact Id 003A); return the old email."""
    old_email = "alice.old@example.net"
    con = duckdb.connect(str(settings.warehouse))
    con.execute("insert into raw.crm_contacts values ('acme-energy', '003D', 'Alice', 'Archer', ?, null, null)",
                [old_email])
    con.execute("create schema if not exists intermediate")
    anchors = {"003A": "003A", "003B": "003B", "003C": "003C", "003D": "003A"}
    con.execute(
        "create or replace table intermediate.int_subject_identities_resolved (tenant_id varchar, "
        "identity_kind varchar, identity_value varchar, subject_key varchar, crm_contact_id varchar, "
        "is_resolved boolean)"
    )
    con.executemany(
        "insert into intermediate.int_subject_identities_resolved values (?, 'contact', ?, ?, ?, true)",
        [(PEOPLE[anchor][0], cid, subject_key(anchor), anchor) for cid, anchor in anchors.items()],
    )
    con.close()
    return old_email


def published_with_late_untrained_agent(home: Path) -> Settings:
    """The scenario warehouse, published, with one more untrained agent whose contact falls 30 days minus 19 hours
    before as-of: inside the KPI's window in UTC, outside it if the as-of were read in a time zone east of UTC."""
    from lethe.publish import publish

    settings = build_warehouse(home)
    con = duckdb.connect(str(settings.warehouse))
    con.execute("insert into marts.fct_agent_training_gaps values ('acme-energy', 'late.agent@acme', 'K2', 'VOICE', "
                "'no_training', null, timestamp '2026-01-30 05:00', null)")
    con.close()
    publish(settings)
    return settings
