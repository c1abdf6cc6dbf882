"""Keyed hashes: the pseudonymous subject key and erasure tombstones.

One definition, used by Python and (through the `lethe_key` DuckDB variable that
`lethe.warehouse.connect` sets for the session) by SQL:

    keyed_hash(kind, value) = sha256(key || ':' || tenant_id || ':' || kind || ':' || value)

`kind` is one of `contact` (a Salesforce Contact Id), `email` (lower case), `phone` (E.164), or
`connect_contact` (an Amazon Connect ContactId: tombstones only, so re-delivered interactions stay erased), or
`landing_file` (the path of a landing file a purge deleted, as the ingest manifest keeps it: Amazon Connect
names transcripts and recordings by ContactId).
The key never enters the warehouse; it lives only in the connection's session variable.
"""

from __future__ import annotations

import hashlib

KINDS = ("contact", "email", "phone", "connect_contact", "individual", "landing_file")


def keyed_hash(key: bytes, tenant_id: str, kind: str, value: str) -> str:
    """Hex sha256 of key:tenant:kind:value, identical to the SQL `keyed_hash` macro."""
    if kind not in KINDS:
        raise ValueError(f"unknown identity kind {kind!r}")
    payload = key + f":{tenant_id}:{kind}:{value}".encode()
    return hashlib.sha256(payload).hexdigest()


def sql_keyed_hash(tenant_expr: str, kind: str, value_expr: str) -> str:
    """The same hash as a DuckDB SQL expression over columns (the key comes from getvariable)."""
    if kind not in KINDS:
        raise ValueError(f"unknown identity kind {kind!r}")
    return (
        f"sha256(getvariable('lethe_key') || ':' || {tenant_expr} || ':{kind}:' || {value_expr})"
    )


def sql_recording_contact_id(path_expr: str) -> str:
    """SQL: the Amazon Connect ContactId a recording file is named by (<ContactId>_<timestamp>.wav: the file name up
    to its first '_' or '.'). Read by ingest's tombstone check and the purge plan's tombstoned interactions."""
    return f"regexp_extract({path_expr}, '([^/_.]+)[^/]*$', 1)"


def sql_crm_contact_attribute(attributes_expr: str) -> str:
    """SQL: the crmContactId of an Amazon Connect contact record's Attributes (a string map kept as JSON text), the
    CRM Contact Id a contact flow stored on it (a TASK with no customer endpoint names its customer only there);
    null when absent or when the text is not JSON (the dbt staging model's `crm_contact_id`, macro
    json_string_field). Read by the erasure plan, the access export and ingest's tombstone check."""
    return (f"case when {attributes_expr} like '%crmContactId%' and json_valid({attributes_expr}) "
            f"then json_extract_string({attributes_expr}, '$.crmContactId') end")
