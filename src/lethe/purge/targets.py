"""How a plan row (source_table, record_id) finds its rows in each raw table (hash semi-joins on text keys)."""

# ruff: noqa: S608 -- SQL is assembled from our own table and column names; values are bound parameters.

from __future__ import annotations

KEYS: dict[str, str] = {
    "contact_records": "contact_id",
    "transcripts": "contact_id",
    "email_events": "sg_event_id",
    "crm_contacts": "id",
    "crm_individuals": "id",
    "crm_consents": "id",
    "dsr_requests": "request_id",
    "legal_holds": "hold_id",
    "recordings": "recording_path",
}

# The data category a step's row counts are reported under in the audit log.
CATEGORY: dict[str, str] = {
    "contact_records": "interaction.metadata",
    "transcripts": "interaction.transcript",
    "email_events": "campaign.event",
    "crm_contacts": "crm.contact",
    "crm_individuals": "crm.contact",
    "crm_consents": "crm.contact",
    "dsr_requests": "crm.contact",
    "legal_holds": "crm.contact",
    "recordings": "interaction.recording",
    "quarantine.rows": "quarantine",
}


def row_key(table: str, t: str = "t") -> str:
    """Text key of a raw row: tenant and record id."""
    if table == "quarantine.rows":
        return f"{t}.tenant_id || chr(31) || {t}.source_file || '#' || coalesce({t}.source_row, 0)"
    return f"{t}.tenant_id || chr(31) || {t}.{KEYS[table]}"


def plan_key(table: str, p: str = "p") -> str:
    """Text key of a plan row, comparable to row_key (a transcript message id names its whole contact)."""
    if table == "transcripts":
        return f"{p}.tenant_id || chr(31) || regexp_replace({p}.record_id, '[:|][0-9]+$', '')"
    return f"{p}.tenant_id || chr(31) || {p}.record_id"


def selected(table: str, where: str = "true", t: str = "t") -> str:
    """SQL condition: raw row `t` of `table` is named by a plan row of run $run satisfying `where`."""
    return (
        f"{row_key(table, t)} in (select {plan_key(table)} from lethe_meta.purge_plans p "
        f"where p.run_id = $run and p.source_table = '{table}' and ({where}))"
    )


def qualified(table: str) -> str:
    """The warehouse name of a plan's source table."""
    return table if "." in table else f"raw.{table}"


def known(table: str) -> bool:
    """Whether the purge knows how to find this source table's rows."""
    return table in KEYS or table == "quarantine.rows"
