"""Build and persist a purge plan: what is due (marts.retention_due), quarantined rows past their retention, plus
what erasure subjects hold, minus legal holds."""

# ruff: noqa: S608 -- SQL is assembled from our own table and column names; values are bound parameters.

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

from lethe import catalog
from lethe.dsr.identity import Subject, unheld_previous_addresses_sql
from lethe.keys import sql_crm_contact_attribute, sql_keyed_hash, sql_recording_contact_id
from lethe.policy import Policy
from lethe.purge import targets

log = logging.getLogger(__name__)


def _record_of(record_id: str) -> str:
    """SQL: the record a planned record id names: a transcript's ContactId without its message suffix
    (ContactId:index or ContactId|index); any other id unchanged."""
    return f"regexp_replace({record_id}, '[:|][0-9]+$', '')"

MART = ("marts", "retention_due")

# A quarantined row falls due for retention under the data category of its dataset (CONTRACT section 3, as the
# data contracts classify each dataset), counted from when it was quarantined. Left out: campaigns and
# crm_purposes hold no personal data and have no category (their contracts name none), and the contact centre's
# own _centre datasets (agents, breaches) have no tenant policy to take days from (the breach register is the
# centre's Art. 33(5) record and is kept).
QUARANTINE_CATEGORIES: dict[str, str] = {
    dataset: category for dataset, category in targets.CATEGORY.items() if dataset != "quarantine.rows"
}


@dataclass(frozen=True)
class PlanAction:
    """One line of the plan (CONTRACT `lethe purge --json` actions)."""

    tenant: str
    data_category: str
    reason: str
    action: str
    record_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "data_category": self.data_category,
            "reason": self.reason,
            "action": self.action,
            "record_count": self.record_count,
        }


@dataclass(frozen=True)
class Plan:
    """A persisted plan: its run, the instant and policy it was made under, and its per-category counts."""

    run_id: str
    kind: str
    as_of: datetime
    policy_sha256: str
    actions: tuple[PlanAction, ...]
    mart_found: bool = True

    @property
    def record_count(self) -> int:
        return sum(a.record_count for a in self.actions)


def _subject_key_sql(alias: str) -> str:
    """SQL: a subjects-table row's key: its Contact Id's keyed hash, else its address's, else (an Individual no
    Contact belongs to) its Individual's, as lethe.dsr.export.subject_key names them."""
    contact = sql_keyed_hash(f"{alias}.tenant_id", "contact", f"{alias}.contact_id")
    email = sql_keyed_hash(f"{alias}.tenant_id", "email", f"{alias}.address")
    phone = sql_keyed_hash(f"{alias}.tenant_id", "phone", f"{alias}.address")
    individual = sql_keyed_hash(f"{alias}.tenant_id", "individual", f"{alias}.individual_id")
    return (
        f"case when {alias}.contact_id is not null then {contact} "
        f"when {alias}.address is null then {individual} "
        f"when {alias}.address like '%@%' then {email} else {phone} end"
    )


def crm_contact_attribute_sql(alias: str) -> str:
    """SQL: the crmContactId of the raw.contact_records row `alias` (keys.sql_crm_contact_attribute)."""
    return sql_crm_contact_attribute(f"{alias}.attributes")


def _linked_contact_records_sql(subjects: str) -> str:
    """SQL: (tenant_id, contact_id, recording_location, subject_key) of the contact records whose crmContactId
    attribute is one of a subjects table's CRM contact ids (a TASK with no customer endpoint names its customer
    only there)."""
    return (
        f"select c.tenant_id, c.contact_id, c.recording_location, s.subject_key from raw.contact_records c "
        f"join (select distinct tenant_id, contact_id, subject_key from {subjects} where contact_id is not null) s "
        f"on c.tenant_id = s.tenant_id and {crm_contact_attribute_sql('c')} = s.contact_id "
        "where c.attributes like '%crmContactId%'"
    )


def subject_records_sql(subjects: str, have: set[str], mode: str) -> str:
    """SQL selecting (tenant_id, source_table, record_id, data_category, action, subject_key) held on subjects.

    `subjects` is a table (tenant_id, contact_id, individual_id, address, subject_key). mode `erase` deletes
    everything of the subject; mode `retire` (a CRM contact past retention) deletes the CRM records and
    anonymises the addresses that survive in interaction and email records that are not yet due.
    """
    erase = mode == "erase"
    parts: list[str] = []
    s = subjects
    if "crm_contacts" in have:
        parts.append(
            f"select c.tenant_id, 'crm_contacts', c.id, 'crm.contact', 'delete', s.subject_key "
            f"from raw.crm_contacts c join {s} s on c.tenant_id = s.tenant_id and c.id = s.contact_id"
        )
    if "crm_individuals" in have:
        parts.append(
            f"select c.tenant_id, 'crm_individuals', c.id, 'crm.contact', 'delete', s.subject_key "
            f"from raw.crm_individuals c join {s} s on c.tenant_id = s.tenant_id and c.id = s.individual_id"
        )
    if "crm_consents" in have:
        parts.append(
            f"select c.tenant_id, 'crm_consents', c.id, 'crm.contact', 'delete', s.subject_key "
            f"from raw.crm_consents c join {s} s on c.tenant_id = s.tenant_id and c.party_id = s.individual_id"
        )
    if "contact_records" in have:
        if erase:
            parts.append(
                f"select c.tenant_id, 'contact_records', c.contact_id, 'interaction.metadata', 'delete', s.subject_key "
                f"from raw.contact_records c join {s} s on c.tenant_id = s.tenant_id and c.customer_address = s.address"
            )
            parts.append(
                f"select c.tenant_id, 'contact_records', c.contact_id, 'interaction.recording', 'delete', s.subject_key "
                f"from raw.contact_records c join {s} s on c.tenant_id = s.tenant_id and c.customer_address = s.address "
                "where c.recording_location is not null"
            )
            # records naming one of the person's CRM contacts in their crmContactId attribute are theirs too
            linked = _linked_contact_records_sql(s)
            parts.append(
                "select l.tenant_id, 'contact_records', l.contact_id, 'interaction.metadata', 'delete', l.subject_key "
                f"from ({linked}) l"
            )
            parts.append(
                "select l.tenant_id, 'contact_records', l.contact_id, 'interaction.recording', 'delete', l.subject_key "
                f"from ({linked}) l where l.recording_location is not null"
            )
        else:
            parts.append(
                f"select c.tenant_id, 'contact_records', c.contact_id, 'crm.contact', 'anonymise', s.subject_key "
                f"from raw.contact_records c join {s} s on c.tenant_id = s.tenant_id and c.customer_address = s.address"
            )
    if erase and "transcripts" in have and "contact_records" in have:
        parts.append(
            f"select distinct t.tenant_id, 'transcripts', t.contact_id, 'interaction.transcript', 'delete', s.subject_key "
            f"from raw.transcripts t join raw.contact_records c on t.tenant_id = c.tenant_id and t.contact_id = c.contact_id "
            f"join {s} s on c.tenant_id = s.tenant_id and c.customer_address = s.address"
        )
        parts.append(
            "select distinct t.tenant_id, 'transcripts', t.contact_id, 'interaction.transcript', 'delete', l.subject_key "
            f"from raw.transcripts t join ({_linked_contact_records_sql(s)}) l "
            "on t.tenant_id = l.tenant_id and t.contact_id = l.contact_id"
        )
    if "email_events" in have:
        category, action = ("campaign.event", "delete") if erase else ("crm.contact", "anonymise")
        parts.append(
            f"select e.tenant_id, 'email_events', e.sg_event_id, '{category}', '{action}', s.subject_key "
            f"from raw.email_events e join {s} s on e.tenant_id = s.tenant_id and e.email = s.address"
        )
    for table, key, conditions in (
        ("dsr_requests", "request_id", ("d.crm_contact_id = s.contact_id", "d.subject_email = s.address",
                                        "d.subject_phone = s.address")),
        ("legal_holds", "hold_id", ("d.crm_contact_id = s.contact_id", "d.subject_email = s.address")),
    ):
        if table in have:
            parts += [
                f"select distinct d.tenant_id, '{table}', d.{key}, 'crm.contact', 'anonymise', s.subject_key "
                f"from raw.{table} d join {s} s on d.tenant_id = s.tenant_id and {cond}"
                for cond in conditions
            ]
    if erase and "quarantine.rows" in have:
        # every quoted string of the (possibly truncated) JSON record, matched by equality (a hash join)
        parts.append(
            "select q.tenant_id, 'quarantine.rows', q.source_file || '#' || coalesce(q.source_row, 0), "
            "'quarantine', 'delete', s.subject_key from (select tenant_id, source_file, source_row, "
            "lower(unnest(regexp_extract_all(record, '\"([^\"]*)\"', 1))) as value from quarantine.rows) q "
            f"join (select tenant_id, subject_key, lower(address) as v from {s} where address is not null union "
            f"select tenant_id, subject_key, lower(contact_id) from {s} where contact_id is not null) s "
            "on q.tenant_id = s.tenant_id and q.value = s.v"
        )
    if not parts:
        return (
            "select null::varchar as tenant_id, null::varchar as source_table, null::varchar as record_id, "
            "null::varchar as data_category, null::varchar as action, null::varchar as subject_key where false"
        )
    union = "\nunion all\n".join(parts)
    return f"select * from ({union}) as r(tenant_id, source_table, record_id, data_category, action, subject_key)"


def _subjects_from_crm(table: str, source: str, have: set[str]) -> list[str]:
    """Statements filling a subjects table from CRM contacts whose ids are in `source` (tenant_id, contact_id)."""
    stmts = []
    if "crm_contacts" in have:
        stmts.append(
            f"insert into {table} select c.tenant_id, c.id, c.individual_id, a.address, null "
            f"from raw.crm_contacts c semi join {source} x on c.tenant_id = x.tenant_id and c.id = x.contact_id, "
            "unnest([c.email, c.phone, c.mobile_phone]) as a(address)"
        )
        if catalog.PREVIOUS_ADDRESSES in have:
            stmts.append(_previous_addresses_sql(table, f"(select distinct tenant_id, contact_id from {source})"))
    return stmts


def _previous_addresses_sql(table: str, contacts: str) -> str:
    """Insert into a subjects table the addresses the CRM contacts in `contacts` (tenant_id, contact_id) held
    before that no CRM contact holds now (identity.unheld_previous_addresses_sql)."""
    return (
        f"insert into {table} select c.tenant_id, c.id, c.individual_id, p.address, null "  # noqa: S608
        f"from {unheld_previous_addresses_sql()} p "
        "join raw.crm_contacts c on c.tenant_id = p.tenant_id and c.id = p.contact_id "
        f"semi join {contacts} x on c.tenant_id = x.tenant_id and c.id = x.contact_id"
    )


_SUBJ_DDL = (
    "create or replace temp table {t} (tenant_id varchar, contact_id varchar, individual_id varchar, "
    "address varchar, subject_key varchar)"
)


def _whole_people(con: duckdb.DuckDBPyConnection, table: str, have: set[str]) -> None:
    """Widen a subjects table to whole people, as the marts resolve them: every CRM contact sharing an Individual
    with one of its contacts is the same person (an old duplicate Contact, say), so its row and addresses join
    them; each person's rows take the subject key of the Individual's smallest Contact Id, the marts' key."""
    if "crm_contacts" not in have:
        return
    con.execute(
        "create or replace temp table _people_crm as select c.tenant_id, c.id as contact_id from raw.crm_contacts c "  # noqa: S608
        f"semi join (select tenant_id, individual_id from {table} where individual_id is not null) p "
        "on c.tenant_id = p.tenant_id and c.individual_id = p.individual_id"
    )
    for stmt in _subjects_from_crm(table, "_people_crm", have):
        con.execute(stmt)
    con.execute(
        f"update {table} t set subject_key = {person_key_sql(con, 'g')} "  # noqa: S608
        f"from (select tenant_id, individual_id, min(contact_id) as anchor from {table} "
        "where individual_id is not null and contact_id is not null group by all) g "
        "where t.tenant_id = g.tenant_id and t.individual_id = g.individual_id"
    )


def person_key_sql(con: duckdb.DuckDBPyConnection, g: str) -> str:
    """SQL: the marts' subject key of a person (`g`: tenant_id, individual_id, anchor = smallest Contact Id): the
    key the Individual was first given (catalog.SUBJECT_KEYS, which the identity model keeps), else the keyed hash of
    the anchor. The access export applies the same rule (lethe.dsr.export.subject_key, with identity.kept_keys), so
    an export is named by the key the erasure of its subject deletes it by. (The model also sets a kept key aside
    in one rare case, when the Contact it came from now stands apart from the Individual; the plan and the export
    still use it.)"""
    anchor = sql_keyed_hash(f"{g}.tenant_id", "contact", f"{g}.anchor")
    if not catalog.table_exists(con, *catalog.SUBJECT_KEYS.split(".")):
        return anchor
    return (f"coalesce((select k.subject_key from {catalog.SUBJECT_KEYS} k where k.tenant_id = {g}.tenant_id "  # noqa: S608
            f"and k.individual_id = {g}.individual_id), {anchor})")


def _keep_what_survives(con: duckdb.DuckDBPyConnection, table: str, have: set[str]) -> None:
    """Of CRM contacts retired for retention or erased (a subjects table), leave out what a contact that stays
    still uses: their Individual (with its consents and privacy flags: the marts keep an Individual as long as its
    latest contact) and every address it holds. An active customer's calls and mails keep their address when an
    old duplicate is retired; when two people share a phone or an email (a household landline), erasing one
    neither deletes the other's calls and mails from it (the marts give them to the other) nor tombstones it,
    which would drop the other's records at every later ingest. An old address nobody holds now that a staying
    contact also held before is kept the same way."""
    if "crm_contacts" not in have:
        return
    con.execute(
        "create or replace temp table _surviving as select c.tenant_id, c.id, c.individual_id, c.email, c.phone, "
        f"c.mobile_phone from raw.crm_contacts c anti join {table} r on c.tenant_id = r.tenant_id and c.id = r.contact_id"  # noqa: S608
    )
    con.execute(
        f"update {table} set individual_id = null where (tenant_id, individual_id) in "  # noqa: S608
        "(select tenant_id, individual_id from _surviving where individual_id is not null)"
    )
    con.execute(
        f"update {table} set address = null where (tenant_id, address) in "  # noqa: S608
        "(select tenant_id, a.address from _surviving, unnest([email, phone, mobile_phone]) as a(address) "
        "where a.address is not null)"
    )
    if catalog.PREVIOUS_ADDRESSES in have:
        # an address nobody holds now that a staying contact held before too (a household email both moved off)
        # is shared the same way: the marts give it to the one who stays. One held now is its holder's.
        con.execute(
            f"update {table} set address = null where (tenant_id, address) in "  # noqa: S608
            f"(select p.tenant_id, p.address from {unheld_previous_addresses_sql()} p "
            "semi join _surviving s on s.tenant_id = p.tenant_id and s.id = p.contact_id)"
        )


def _open_holds(con: duckdb.DuckDBPyConnection, as_of: datetime, have: set[str]) -> None:
    """Fill temp table _held with every subject under a legal hold open at as_of (holds always win)."""
    con.execute(_SUBJ_DDL.format(t="_held"))
    if "legal_holds" not in have:
        return
    con.execute(
        "create or replace temp table _hold_open as select tenant_id, crm_contact_id as contact_id, subject_email "
        "from raw.legal_holds where start_date <= $d and (end_date is null or end_date >= $d)",
        {"d": as_of.date()},
    )
    con.execute("insert into _held select tenant_id, contact_id, null, subject_email, null from _hold_open")
    if "crm_contacts" in have:
        # the held contacts (named by id, or by email), with their addresses now and before
        con.execute(
            "create or replace temp table _held_crm as "
            "select c.tenant_id, c.id as contact_id from raw.crm_contacts c semi join _hold_open h "
            "on c.tenant_id = h.tenant_id and c.id = h.contact_id union "
            "select c.tenant_id, c.id from raw.crm_contacts c semi join _hold_open h "
            "on c.tenant_id = h.tenant_id and c.email = h.subject_email"
        )
        for stmt in _subjects_from_crm("_held", "_held_crm", have):
            con.execute(stmt)
    con.execute(f"update _held set subject_key = {_subject_key_sql('_held')}")
    _whole_people(con, "_held", have)


def _standing_restrictions(con: duckdb.DuckDBPyConnection, as_of: datetime, have: set[str]) -> None:
    """Fill temp table _restricted with every person whose processing is restricted (GDPR Art. 18), from two views,
    either of which restricts (restricted data is only stored, and a deletion cannot be undone):

    - the last build's: every subject int_consent_subject_flags held restricted, with every identity the identity
      index gives them (an address held before, an address no CRM contact holds);
    - the raw layer's at as_of, which also sees what an ingest or `lethe dsar restrict` brought since the last
      build: their Individual's HasOptedOutProcessing is set, or a restriction request received by as_of and not
      lifted by then names them by CRM contact id, email or phone. A request naming CRM contacts of more than one
      person now (a household email) restricts nobody, as in the marts (never guessed), unless the last build
      resolved it to one person; one naming no CRM contact restricts the addresses it names.

    A restriction the raw layer shows lifted since the last build still stands here until the next build: the
    cautious direction."""
    con.execute(_SUBJ_DDL.format(t="_restricted"))
    con.execute("create or replace temp table _restricted_crm (tenant_id varchar, contact_id varchar)")
    if catalog.table_exists(con, "intermediate", "int_consent_subject_flags") and catalog.table_exists(
            con, "intermediate", "int_subject_identities_resolved"):
        con.execute(
            "create or replace temp table _restricted_known as select i.tenant_id, i.identity_kind, "
            "i.identity_value, i.subject_key from intermediate.int_subject_identities_resolved i "
            "semi join (select tenant_id, subject_key from intermediate.int_consent_subject_flags "
            "where is_restricted) f on f.tenant_id = i.tenant_id and f.subject_key = i.subject_key "
            "where i.identity_value is not null"
        )
        con.execute("insert into _restricted_crm select tenant_id, identity_value from _restricted_known "
                    "where identity_kind = 'contact'")
        con.execute("insert into _restricted select tenant_id, null, null, identity_value, subject_key "
                    "from _restricted_known where identity_kind in ('email', 'phone')")
    if "crm_contacts" in have and "crm_individuals" in have:
        con.execute(
            "insert into _restricted_crm select c.tenant_id, c.id from raw.crm_contacts c semi join "
            "(select tenant_id, id from raw.crm_individuals where has_opted_out_processing) i "
            "on c.tenant_id = i.tenant_id and c.individual_id = i.id"
        )
    if "dsr_requests" in have:
        lifted = ("and (r.restriction_lifted_at is null or r.restriction_lifted_at > $ts) "
                  if "restriction_lifted_at" in catalog.columns(con, "raw", "dsr_requests") else "")
        con.execute(
            "create or replace temp table _restriction_requests as "
            "select r.tenant_id, r.request_id, r.crm_contact_id, lower(trim(r.subject_email)) as email, "
            "r.subject_phone as phone from raw.dsr_requests r "
            f"where lower(trim(r.type)) = 'restriction' and r.received_at <= $ts {lifted}",
            {"ts": naive_utc(as_of)},
        )
        con.execute("create or replace temp table _requests_named (tenant_id varchar, request_id varchar, "
                    "contact_id varchar)")
        if "crm_contacts" in have:
            for column, held in (("crm_contact_id", "c.id"), ("email", "lower(trim(c.email))"), ("phone", "c.phone"),
                                 ("phone", "c.mobile_phone")):
                con.execute(
                    "insert into _requests_named select distinct r.tenant_id, r.request_id, c.id "
                    f"from _restriction_requests r join raw.crm_contacts c on c.tenant_id = r.tenant_id "
                    f"and {held} = r.{column}"
                )
            # the people each request names now: contacts sharing an Individual are one person
            con.execute(
                "insert into _restricted_crm select n.tenant_id, n.contact_id from _requests_named n "
                "semi join (select n.tenant_id, n.request_id from _requests_named n join raw.crm_contacts c "
                "on c.tenant_id = n.tenant_id and c.id = n.contact_id group by all "
                "having count(distinct coalesce(c.individual_id, c.id)) = 1) one "
                "on one.tenant_id = n.tenant_id and one.request_id = n.request_id"
            )
        # a request naming no CRM contact: the addresses it names (a caller's phone, an email only mails reached)
        con.execute(
            "insert into _restricted select r.tenant_id, null, null, a.address, null from _restriction_requests r "
            "anti join _requests_named n on n.tenant_id = r.tenant_id and n.request_id = r.request_id, "
            "unnest([r.email, r.phone]) as a(address) where a.address is not null"
        )
    for stmt in _subjects_from_crm("_restricted", "(select distinct * from _restricted_crm)", have):
        con.execute(stmt)
    con.execute(f"update _restricted set subject_key = {_subject_key_sql('_restricted')} where subject_key is null")
    _whole_people(con, "_restricted", have)


def held_subjects(con: duckdb.DuckDBPyConnection, subjects: Sequence[Subject], as_of: datetime) -> list[str]:
    """Which of these subjects are under an open legal hold (described without personal data)."""
    have = catalog.raw_tables(con)
    _open_holds(con, as_of, have)
    _load_subjects(con, "_ask", subjects)
    rows = con.execute(
        "select distinct a.tenant_id, coalesce(a.contact_id, a.subject_key) from _ask a join _held h "
        "on a.tenant_id = h.tenant_id and (a.contact_id = h.contact_id or a.address = h.address)"
    ).fetchall()
    return [f"{t}/{c}" for t, c in rows]


def _load_subjects(con: duckdb.DuckDBPyConnection, table: str, subjects: Sequence[Subject] | str) -> None:
    """Fill a subjects table from resolved subjects, or from SQL selecting (tenant_id, contact_id, individual_id, address)."""
    con.execute(_SUBJ_DDL.format(t=table))
    if isinstance(subjects, str):
        con.execute(f"insert into {table} select tenant_id, contact_id, individual_id, address, null from ({subjects})")  # noqa: S608
        con.execute(f"update {table} set subject_key = {_subject_key_sql(table)}")
        return
    if not subjects:
        return
    frame = pl.DataFrame(
        {
            "tenant_id": [s.tenant_id for s in subjects],
            "contact_id": [s.contact_id for s in subjects],
            "individual_id": [s.individual_id for s in subjects],
            "address": [list(s.emails + s.phones) or [None] for s in subjects],
        },
        schema={
            "tenant_id": pl.Utf8,
            "contact_id": pl.Utf8,
            "individual_id": pl.Utf8,
            "address": pl.List(pl.Utf8),
        },
    ).explode("address")
    con.register("_subjects_frame", frame)
    try:
        con.execute(
            f"insert into {table} select tenant_id, contact_id, individual_id, address, null from _subjects_frame"
        )
    finally:
        con.unregister("_subjects_frame")
    con.execute(f"update {table} set subject_key = {_subject_key_sql(table)}")


def naive_utc(ts: datetime) -> datetime:
    """A timestamp as the warehouse stores it: UTC, without a time zone."""
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def build_plan(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    kind: str,
    as_of: datetime,
    policy: Policy,
    subjects: Sequence[Subject] | str = (),
    from_mart: bool = True,
) -> Plan:
    """Compute the plan set-based and persist it under run_id (the caller owns the transaction)."""
    have = catalog.raw_tables(con)
    con.execute(
        "create or replace temp table _items (tenant_id varchar, source_table varchar, record_id varchar, "
        "data_category varchar, action varchar, subject_key varchar, reason varchar)"
    )
    mart_found = catalog.table_exists(con, *MART)
    if from_mart and mart_found:
        # the mart lists what was due at the last build's as-of; a run judged at an earlier instant takes only
        # what was already due then (a later one takes the mart as it is, and its rebuild finds the rest)
        con.execute(
            "insert into _items select tenant_id, source_table, record_id, data_category, action, subject_key, reason "
            "from marts.retention_due where tenant_id in (select unnest($tenants::varchar[])) and due_at <= $as_of",
            {"tenants": sorted(policy.tenants),
             "as_of": naive_utc(as_of)},
        )
        # the mart names a recording by its contact record (record_id = ContactId): the record loses the file
        con.execute(
            "update _items set source_table = 'contact_records' "
            "where source_table = 'recordings' and data_category = 'interaction.recording'"
        )
    elif from_mart:
        log.warning("marts.retention_due does not exist yet (run `lethe build`); nothing is due")
    if from_mart and "quarantine.rows" in have:
        _due_quarantine(con, as_of, policy)

    # Erasure subjects: named by a request (DSR erase) or by the mart's erasure_request rows.
    _load_subjects(con, "_erase", subjects)
    con.execute(
        "create or replace temp table _erase_crm as select distinct tenant_id, record_id as contact_id from _items "
        "where reason = 'erasure_request' and source_table = 'crm_contacts'"
    )
    for stmt in _subjects_from_crm("_erase", "_erase_crm", have):
        con.execute(stmt)
    for table, column in (("contact_records", "customer_address"), ("email_events", "email")):
        key = "contact_id" if table == "contact_records" else "sg_event_id"
        if table in have:
            con.execute(
                f"insert into _erase select distinct r.tenant_id, null, null, r.{column}, null from raw.{table} r "  # noqa: S608
                f"join _items i on i.tenant_id = r.tenant_id and i.source_table = '{table}' and i.record_id = r.{key} "
                f"where i.reason = 'erasure_request' and r.{column} is not null"
            )
    con.execute(f"update _erase set subject_key = {_subject_key_sql('_erase')} where subject_key is null")
    _whole_people(con, "_erase", have)
    _keep_what_survives(con, "_erase", have)
    con.execute(
        f"insert into _items select *, 'erasure_request' from ({subject_records_sql('_erase', have, 'erase')})"  # noqa: S608
    )

    _tombstoned_interactions(con, have)

    # CRM contacts deleted for retention: their individual and consents go, their addresses are anonymised.
    con.execute(
        "create or replace temp table _retire_crm as select distinct tenant_id, record_id as contact_id from _items "
        "where reason = 'retention_expired' and source_table = 'crm_contacts' and action = 'delete'"
    )
    con.execute(_SUBJ_DDL.format(t="_retire"))
    for stmt in _subjects_from_crm("_retire", "_retire_crm", have):
        con.execute(stmt)
    con.execute(f"update _retire set subject_key = {_subject_key_sql('_retire')}")
    _keep_what_survives(con, "_retire", have)
    con.execute(
        f"insert into _items select *, 'retention_expired' from ({subject_records_sql('_retire', have, 'retire')})"  # noqa: S608
    )

    # Legal holds always win: nothing of a held subject stays in the plan.
    _open_holds(con, as_of, have)
    con.execute(f"create or replace temp table _held_records as {subject_records_sql('_held', have, 'erase')}")
    con.execute(
        "delete from _items i using _held_records h where i.tenant_id = h.tenant_id "
        f"and i.source_table = h.source_table and {_record_of('i.record_id')} = h.record_id"
    )
    if "quarantine.rows" in have:
        _keep_quarantine_of(con, "_held", "_held_records")

    # A restriction standing at as_of keeps the person's records past their retention (GDPR Art. 18(2): restricted
    # data is only stored); their own erasure request still erases them.
    _standing_restrictions(con, as_of, have)
    con.execute(
        f"create or replace temp table _restricted_records as {subject_records_sql('_restricted', have, 'erase')}"
    )
    con.execute(
        "delete from _items i using _restricted_records r where i.reason = 'retention_expired' "
        f"and i.tenant_id = r.tenant_id and i.source_table = r.source_table and {_record_of('i.record_id')} = r.record_id"
    )
    if "quarantine.rows" in have:
        _keep_quarantine_of(con, "_restricted", "_restricted_records", reason="retention_expired")

    # One row per record and action; erasure wins over retention; a deleted record is not also anonymised.
    con.execute(
        """
        insert into lethe_meta.purge_plans
        with ranked as (
            select *, row_number() over (
                partition by tenant_id, source_table, record_id, data_category, action
                order by reason, subject_key nulls last) as rn
            from _items where record_id is not null
        )
        select $run, tenant_id, data_category, reason, action, source_table, record_id, subject_key
        from ranked r
        where rn = 1
          and not (action = 'anonymise' and data_category = 'crm.contact' and exists (
              select 1 from _items d where d.tenant_id = r.tenant_id and d.source_table = r.source_table
                and d.record_id = r.record_id and d.action = 'delete' and d.data_category <> 'interaction.recording'))
        """,
        {"run": run_id},
    )

    # Erased identities, as keyed hashes only, for tombstones.
    con.execute(
        f"""
        insert into lethe_meta.purge_identities
        select $run, * from ({_identities_sql('_erase')})
        union
        -- the Individual the erasure deletes (one a staying contact shares was set null above)
        select distinct $run, tenant_id, 'individual', {sql_keyed_hash('tenant_id', 'individual', 'individual_id')},
            subject_key
        from _erase where individual_id is not null
        union
        select distinct $run, tenant_id, 'connect_contact',
            {sql_keyed_hash('tenant_id', 'connect_contact', _record_of('record_id'))}, subject_key
        from lethe_meta.purge_plans
        where run_id = $run and reason = 'erasure_request' and action = 'delete'
          and source_table in ('contact_records', 'transcripts')
        """,  # noqa: S608
        {"run": run_id},
    )
    if "quarantine.rows" in have:
        _plan_unparsed(con, run_id)
    _requests_of_the_erased(con, run_id, have, as_of)
    _plan_files(con, run_id, have)
    _plan_landing(con, run_id, have)
    return summarise(con, run_id=run_id, kind=kind, as_of=as_of, policy_sha256=policy.sha256, mart_found=mart_found)


def _requests_of_the_erased(con: duckdb.DuckDBPyConnection, run_id: str, have: set[str], as_of: datetime) -> None:
    """Judge, before the erasure blanks them, the requests the run's erasure anonymises (its person's Contact Id,
    email or phone; verified or not, processed or not):

    - one that also names a CRM contact the run leaves (a Contact Id, an email or a phone of somebody else's) names
      two people: recorded `ambiguous` (lethe_meta.dsr_processed) unless already acted on. The erasure blanks its
      addresses, after which it names the erased person only, and would be closed as theirs ('erased', done)
      though the requester may have been the other one; or, naming the other's Contact Id and the erased person's
      email, it would be carried out on the other. A request Lethe already found naming two people stays open
      (lethe.dsr.requests, fct_dsr_requests); this finds those it had not processed yet.
    - one that names nobody else, received and verified by as_of, is the erased person's: kept in
      lethe_meta.purge_request_closures, which close_requests_of_the_erased turns into `erased` when the run is
      done. Blanked, it would match nobody and stay open (`no_match`, overdue) for ever, though nothing of the
      person is left to export, restrict or correct."""
    if "dsr_requests" not in have:
        return
    verified = ("r.verified_at" if "verified_at" in catalog.columns(con, "raw", "dsr_requests")
                else "null::timestamp")
    con.execute(
        "create or replace temp table _anonymised as select r.tenant_id, r.request_id, r.type, r.received_at, "
        f"{verified} as verified_at, r.crm_contact_id, r.subject_email, r.subject_phone from raw.dsr_requests r "
        "semi join (select tenant_id, record_id from lethe_meta.purge_plans where run_id = $run "
        "and source_table = 'dsr_requests' and reason = 'erasure_request') p "
        "on p.tenant_id = r.tenant_id and p.record_id = r.request_id",
        {"run": run_id},
    )
    con.execute("create or replace temp table _named_others (tenant_id varchar, request_id varchar)")
    if "crm_contacts" in have:
        con.execute("create or replace temp table _others as select c.tenant_id, c.id, c.email, c.phone, c.mobile_phone "
                    "from raw.crm_contacts c anti join (select tenant_id, contact_id from _erase "
                    "where contact_id is not null) e on e.tenant_id = c.tenant_id and e.contact_id = c.id")
        for cond in ("o.id = r.crm_contact_id", "o.email = r.subject_email", "o.phone = r.subject_phone",
                     "o.mobile_phone = r.subject_phone"):
            con.execute("insert into _named_others select r.tenant_id, r.request_id from _anonymised r "  # noqa: S608
                        f"join _others o on o.tenant_id = r.tenant_id and {cond}")
    if catalog.table_exists(con, "lethe_meta", "dsr_processed"):
        from lethe.dsr.requests import RETRIED

        retried = ", ".join(f"'{o}'" for o in RETRIED)
        con.execute(
            f"""
            insert into lethe_meta.dsr_processed (tenant_id, request_id, type, outcome, run_id, processed_at, received_at)
            select n.tenant_id, n.request_id, any_value(n.type), 'ambiguous', $run, $at, any_value(n.received_at)
            from _anonymised n semi join _named_others o on o.tenant_id = n.tenant_id and o.request_id = n.request_id
            where n.type is not null and not exists (select 1 from lethe_meta.dsr_processed d
                where d.tenant_id = n.tenant_id and d.request_id = n.request_id and d.outcome not in ({retried}))
            group by n.tenant_id, n.request_id
            on conflict (tenant_id, request_id) do update set outcome = 'ambiguous', run_id = excluded.run_id,
                processed_at = excluded.processed_at, received_at = excluded.received_at
            """,  # noqa: S608
            {"run": run_id, "at": naive_utc(as_of)},
        )
    con.execute(
        "insert into lethe_meta.purge_request_closures select distinct $run, a.tenant_id, a.request_id "
        "from _anonymised a anti join _named_others o on o.tenant_id = a.tenant_id and o.request_id = a.request_id "
        "where a.type is not null and a.received_at <= $at and a.verified_at <= $at",
        {"run": run_id, "at": naive_utc(as_of)},
    )


def close_requests_of_the_erased(con: duckdb.DuckDBPyConnection, run_id: str, as_of: datetime) -> None:
    """Record as `erased` (lethe_meta.dsr_processed), under the run, the requests of the people it erased that the
    plan kept (lethe_meta.purge_request_closures, see _requests_of_the_erased). Called in the transaction that
    marks the run done (lethe.purge.engine.verify), before its record rows are forgotten, so a refused or abandoned
    run closes nothing; processed_at is the run's as-of, and the next lethe.dsr.process_requests records the
    fulfilment. A request already closed keeps its outcome: exported, erased, found ambiguous, or applied and
    fulfilled (an applied restriction not yet fulfilled, or a rectification waiting for its CRM record, never
    would be now)."""
    if not all(catalog.table_exists(con, *t.split(".")) for t in (
            "lethe_meta.dsr_processed", "raw.dsr_requests", "lethe_meta.purge_request_closures")):
        return  # (a run planned by older code, verified by this: it has no closures)
    fulfilled = (
        "or (d.outcome = 'applied' and exists (select 1 from lethe_meta.dsr_fulfilments f "
        "where f.tenant_id = d.tenant_id and f.request_id = d.request_id))"
        if catalog.table_exists(con, "lethe_meta", "dsr_fulfilments") else ""
    )
    con.execute(
        f"""
        insert into lethe_meta.dsr_processed (tenant_id, request_id, type, outcome, run_id, processed_at, received_at)
        select r.tenant_id, r.request_id, any_value(r.type), 'erased', $run, $at, any_value(r.received_at)
        from raw.dsr_requests r
        semi join (select tenant_id, request_id from lethe_meta.purge_request_closures where run_id = $run) x
            on x.tenant_id = r.tenant_id and x.request_id = r.request_id
        where not exists (
            select 1 from lethe_meta.dsr_processed d where d.tenant_id = r.tenant_id and d.request_id = r.request_id
            and (d.outcome in ('exported', 'erased', 'ambiguous') {fulfilled}))
        group by r.tenant_id, r.request_id
        on conflict (tenant_id, request_id) do update set outcome = 'erased', run_id = excluded.run_id,
            processed_at = excluded.processed_at, received_at = excluded.received_at
        """,  # noqa: S608
        {"run": run_id, "at": naive_utc(as_of)},
    )


def _tombstoned_interactions(con: duckdb.DuckDBPyConnection, have: set[str]) -> None:
    """Add to _items, as erasure deletions, the contact records, transcripts and recordings whose Amazon Connect
    ContactId is tombstoned. Ingest tombstones the ContactId of a contact record it drops as an erased person's;
    a transcript or recording of that contact loaded in an earlier run than the record, or an earlier version of
    the record that did not name the person yet, is linked to nobody and would otherwise stay, unresolved, until
    its retention ran out. Hashes are taken once per distinct ContactId, against that tenant's connect_contact
    tombstones."""
    if not catalog.table_exists(con, "lethe_meta", "tombstones"):
        return
    tombs = "(select tenant_id, identity_hash from lethe_meta.tombstones where kind = 'connect_contact')"
    sources = []
    if "contact_records" in have:  # an earlier version of the dropped record (its file goes with it)
        sources.append(("contact_records", "interaction.metadata", "contact_id", "contact_id"))
    if "transcripts" in have:
        sources.append(("transcripts", "interaction.transcript", "contact_id", "contact_id"))
    if "recordings" in have:
        sources.append(("recordings", "interaction.recording", "recording_path",
                        sql_recording_contact_id("recording_path")))
    for table, category, key, contact in sources:
        con.execute(
            f"""
            insert into _items
            select r.tenant_id, '{table}', r.record_id, '{category}', 'delete', null, 'erasure_request'
            from (select distinct tenant_id, {key} as record_id, {contact} as contact_id from raw.{table}) r
            semi join {tombs} t on t.tenant_id = r.tenant_id
                and t.identity_hash = {sql_keyed_hash('r.tenant_id', 'connect_contact', 'r.contact_id')}
            """  # noqa: S608
        )


def _identities_sql(table: str) -> str:
    """SQL: (tenant_id, kind, identity_hash, subject_key) of a subjects table's CRM contact ids and addresses, as
    keyed hashes (the form tombstones and lethe.refused.identities_in_texts match; addresses are stored
    normalised, emails in lower case)."""
    return f"""
        select distinct tenant_id, 'contact' as kind, {sql_keyed_hash('tenant_id', 'contact', 'contact_id')}
            as identity_hash, subject_key
        from {table} where contact_id is not null
        union
        select distinct tenant_id, case when address like '%@%' then 'email' else 'phone' end,
            case when address like '%@%' then {sql_keyed_hash('tenant_id', 'email', 'address')}
                 else {sql_keyed_hash('tenant_id', 'phone', 'address')} end, subject_key
        from {table} where address is not null
    """  # noqa: S608


def _due_quarantine(con: duckdb.DuckDBPyConnection, as_of: datetime, policy: Policy) -> None:
    """Add to _items every quarantined row past its retention: its tenant's days for its dataset's category
    (QUARANTINE_CATEGORIES; the defaults for a category the policy leaves out), counted from quarantined_at (the
    row's own dates may be what is broken). It is planned as an erased one is: the executor deletes it from
    quarantine.rows and drops its landing line by position. A landing line quarantined more than once (one
    record_id) is due when its latest copy is."""
    tenants, datasets, days = [], [], []
    for tenant in policy.tenants.values():  # the policy's (tenant, dataset) pairs, not the data
        for dataset, category in QUARANTINE_CATEGORIES.items():
            tenants.append(tenant.tenant_id)
            datasets.append(dataset)
            days.append(tenant.retention[category])
    con.execute(
        """
        insert into _items
        select q.tenant_id, 'quarantine.rows', q.source_file || '#' || coalesce(q.source_row, 0), 'quarantine',
               'delete', null, 'retention_expired'
        from quarantine.rows q
        join (select unnest($tenants::varchar[]) as tenant_id, unnest($datasets::varchar[]) as dataset,
                     unnest($days::integer[]) as days) r
            on r.tenant_id = q.tenant_id and r.dataset = q.dataset
        where q.source_file is not null
        group by q.tenant_id, q.source_file, coalesce(q.source_row, 0)
        having bool_and(coalesce(q.quarantined_at + to_days(r.days) <= $as_of, false))
        """,
        {"tenants": tenants, "datasets": datasets, "days": days, "as_of": naive_utc(as_of)},
    )


def _keep_quarantine_of(con: duckdb.DuckDBPyConnection, subjects: str, records: str,
                        reason: str | None = None) -> None:
    """Keep the planned quarantined rows of the people in `subjects` (legal holds: _held, every reason; standing
    restrictions: _restricted, their retention deletions only). A quarantined row has no resolved subject, so
    this is judged on its text, conservatively: beyond the quoted values `records` (their subject_records_sql)
    matches (an address or CRM id), a planned quarantined row stays when its text holds any identity of theirs in
    any form (an address, a phone number in any human format: the raw text of a line that did not parse, a number
    in free text; the CRM contact id, or the ContactId of one of their calls or chats), matched as erased
    identities are matched in refused files (lethe.refused.identities_in_texts)."""
    from lethe.refused import identities_in_texts

    if not con.execute(f"select count(*) from {subjects}").fetchone()[0]:  # noqa: S608
        return
    of_reason, of_reason_i = (f"and reason = '{reason}'", f"and i.reason = '{reason}'") if reason else ("", "")
    texts = con.execute(
        "select q.tenant_id as tenant, q.source_file || '#' || coalesce(q.source_row, 0) as rel, q.record as text "
        f"from quarantine.rows q where q.record is not null and q.tenant_id in (select tenant_id from {subjects}) "
        "and (q.tenant_id, q.source_file || '#' || coalesce(q.source_row, 0)) in "
        f"(select tenant_id, record_id from _items where source_table = 'quarantine.rows' {of_reason})"  # noqa: S608
    ).pl()
    if texts.height == 0:
        return
    con.execute(
        f"""
        create or replace temp table _kept_identities as
        select tenant_id, kind, identity_hash from ({_identities_sql(subjects)})
        union
        select distinct tenant_id, 'connect_contact', {sql_keyed_hash('tenant_id', 'connect_contact', 'record_id')}
        from {records} where source_table in ('contact_records', 'transcripts')
        """  # noqa: S608
    )
    try:
        found = identities_in_texts(con, texts, "_kept_identities")
    finally:
        con.execute("drop table if exists _kept_identities")
    if not found:
        return
    frame = pl.DataFrame([(t, r) for t, r, _ in found], schema={"tenant_id": pl.String, "record_id": pl.String},
                         orient="row")
    con.register("_kept_quarantine", frame)
    try:
        con.execute(
            "delete from _items i using _kept_quarantine k where i.source_table = 'quarantine.rows' "
            f"and i.tenant_id = k.tenant_id and i.record_id = k.record_id {of_reason_i}"
        )
    finally:
        con.unregister("_kept_quarantine")


def _plan_unparsed(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Plan the deletion of quarantined records that did not parse (their quarantine record is the raw text:
    a truncated line, a non-object element) and whose text holds an identity the run erases in any form: an
    address, a phone number in any human format, an id. The quoted-string match of subject_records_sql finds
    exact values only; a phone written '07700 900123' in a broken line is found here."""
    from lethe.refused import identities_in_texts

    texts = con.execute(
        "select tenant_id as tenant, source_file || '#' || coalesce(source_row, 0) as rel, record as text "
        "from quarantine.rows where rule = 'parse' and record is not null "
        "and tenant_id in (select tenant_id from lethe_meta.purge_identities where run_id = $run)",
        {"run": run_id},
    ).pl()
    if texts.height == 0:
        return
    con.execute(
        "create or replace temp table _run_identities as select distinct tenant_id, kind, identity_hash, subject_key "
        "from lethe_meta.purge_identities i where run_id = $run and not exists (select 1 from _held h "
        "where h.tenant_id = i.tenant_id and h.subject_key = i.subject_key)",
        {"run": run_id},
    )
    found = identities_in_texts(con, texts, "_run_identities")
    if not found:
        return
    frame = pl.DataFrame(found, schema={"tenant_id": pl.String, "record_id": pl.String, "identity_hash": pl.String},
                         orient="row")
    con.register("_unparsed_hits", frame)
    try:
        con.execute(
            """
            insert into lethe_meta.purge_plans
            select distinct on (h.tenant_id, h.record_id) $run, h.tenant_id, 'quarantine', 'erasure_request',
                   'delete', 'quarantine.rows', h.record_id, i.subject_key
            from _unparsed_hits h
            join _run_identities i on i.tenant_id = h.tenant_id and i.identity_hash = h.identity_hash
            where not exists (select 1 from lethe_meta.purge_plans p where p.run_id = $run
                              and p.source_table = 'quarantine.rows' and p.tenant_id = h.tenant_id
                              and p.record_id = h.record_id)
            order by h.tenant_id, h.record_id, i.subject_key
            """,
            {"run": run_id},
        )
    finally:
        con.unregister("_unparsed_hits")
        con.execute("drop table if exists _run_identities")


def _plan_files(con: duckdb.DuckDBPyConnection, run_id: str, have: set[str]) -> None:
    """Persist the recording and transcript files the plan removes (paths relative to the landing root)."""
    parts = []
    if "recordings" in have:
        parts.append(
            "select p.tenant_id, 'recordings', p.tenant_id || '/' || p.record_id, p.data_category "
            "from lethe_meta.purge_plans p where p.run_id = $run and p.source_table = 'recordings'"
        )
    if "contact_records" in have:
        parts.append(
            "select c.tenant_id, 'recordings', case when c.recording_location like '/%' then c.recording_location "
            "else c.tenant_id || '/' || c.recording_location end, 'interaction.recording' "
            "from raw.contact_records c semi join lethe_meta.purge_plans p on p.run_id = $run "
            "and p.tenant_id = c.tenant_id and p.source_table = 'contact_records' and p.record_id = c.contact_id "
            "and (p.data_category = 'interaction.recording' or p.action = 'delete') "
            "where c.recording_location is not null and c.recording_location <> ''"
        )
    if "transcripts" in have:
        parts.append(
            # a planned transcript record is the ContactId or ContactId:index / ContactId|index; its file is the
            # contact's transcript file. An equality on the ContactId (no OR in the join: DuckDB would run it as
            # a nested loop over every message x every planned record)
            "select distinct t.tenant_id, 'transcripts', t._source_file, 'interaction.transcript' "
            "from raw.transcripts t semi join lethe_meta.purge_plans p on p.run_id = $run "
            "and p.tenant_id = t.tenant_id and p.source_table = 'transcripts' "
            f"and {_record_of('p.record_id')} = t.contact_id "
            "where t._source_file is not null"
        )
        if _copies_tracked(con):  # re-delivered copies of a planned transcript, in other files
            parts.append(
                "select distinct c.tenant_id, 'transcripts', c.source_file, 'interaction.transcript' "
                "from lethe_meta.record_copies c semi join lethe_meta.purge_plans p on p.run_id = $run "
                "and p.tenant_id = c.tenant_id and p.source_table = 'transcripts' "
                f"and {_record_of('p.record_id')} = c.record_id "
                "where c.dataset = 'transcripts'"
            )
    if "quarantine.rows" in have:
        parts.append(_quarantined_transcripts(con, have))
    if parts:
        union = " union ".join(parts)
        con.execute(f"insert into lethe_meta.purge_files select distinct $run, * from ({union})", {"run": run_id})  # noqa: S608


def _quarantined_transcripts(con: duckdb.DuckDBPyConnection, have: set[str]) -> str:
    """SQL: the transcript files nothing of which survives the plan's quarantine deletions. A transcript file is
    one chat, with no lines to drop: once every row of it in quarantine.rows is planned and no message of it is
    in raw.transcripts (nor a copy of one: lethe_meta.record_copies; a tenant loaded before copies were recorded
    is left alone), the file goes whole. A file with a message in raw goes with that transcript's own purge."""
    file = "regexp_replace(p.record_id, '#[0-9]+$', '')"
    keep = [
        "exists (select 1 from quarantine.rows q where q.tenant_id = f.tenant_id and q.source_file = f.file "
        "and not exists (select 1 from lethe_meta.purge_plans o where o.run_id = $run "
        "and o.source_table = 'quarantine.rows' and o.tenant_id = q.tenant_id "
        "and o.record_id = q.source_file || '#' || coalesce(q.source_row, 0)))"
    ]
    if "transcripts" in have:
        keep.append("exists (select 1 from raw.transcripts t where t.tenant_id = f.tenant_id and t._source_file = f.file)")
    if _copies_tracked(con):
        keep.append("exists (select 1 from lethe_meta.record_copies c where c.tenant_id = f.tenant_id "
                    "and c.dataset = 'transcripts' and c.source_file = f.file)")
        if catalog.table_exists(con, "lethe_meta", "record_copies_untracked"):
            keep.append("exists (select 1 from lethe_meta.record_copies_untracked u where u.tenant_id = f.tenant_id "
                        "and u.dataset = 'transcripts')")
    else:
        keep.append("true")
    return (
        "select f.tenant_id, 'transcripts', f.file, 'interaction.transcript' from ("  # noqa: S608
        f"select distinct p.tenant_id, {file} as file from lethe_meta.purge_plans p where p.run_id = $run "
        "and p.source_table = 'quarantine.rows' and starts_with(p.record_id, p.tenant_id || '/transcripts/')) f "
        f"where not ({' or '.join(keep)})"
    )


def _copies_tracked(con: duckdb.DuckDBPyConnection) -> bool:
    return catalog.table_exists(con, "lethe_meta", "record_copies")


def _plan_landing(con: duckdb.DuckDBPyConnection, run_id: str, have: set[str]) -> None:
    """Persist the landing files that hold a planned record: the raw row's own file, the files of its other
    copies (lethe_meta.record_copies, written at ingest) and the files of planned quarantine rows. A tenant's
    dataset loaded before copies were recorded gets one row with a null path: its files are all scanned."""
    from lethe.purge.files import LANDING

    tracked = _copies_tracked(con)
    untracked = (
        "select tenant_id, dataset from lethe_meta.record_copies_untracked"
        if catalog.table_exists(con, "lethe_meta", "record_copies_untracked")
        else "select null::varchar tenant_id, null::varchar dataset where false"
    )
    parts = []
    for dataset in LANDING:
        if dataset not in have:
            continue
        key = targets.KEYS[dataset]
        parts.append(
            f"select p.tenant_id, '{dataset}', r._source_file from raw.{dataset} r "
            f"join lethe_meta.purge_plans p on p.run_id = $run and p.source_table = '{dataset}' "
            f"and p.tenant_id = r.tenant_id and p.record_id = r.{key}"
        )
        if tracked:
            parts.append(
                f"select p.tenant_id, '{dataset}', c.source_file from lethe_meta.record_copies c "
                f"join lethe_meta.purge_plans p on p.run_id = $run and p.source_table = '{dataset}' "
                f"and c.dataset = '{dataset}' and p.tenant_id = c.tenant_id and p.record_id = c.record_id"
            )
        scan = "true" if not tracked else (
            f"exists (select 1 from ({untracked}) u where u.tenant_id = p.tenant_id and u.dataset = '{dataset}')"
        )
        parts.append(
            f"select distinct p.tenant_id, '{dataset}', null::varchar from lethe_meta.purge_plans p "
            f"where p.run_id = $run and p.source_table = '{dataset}' and {scan}"
        )
    if "quarantine.rows" in have:
        parts.append(
            "select p.tenant_id, q.dataset, regexp_replace(p.record_id, '#[0-9]+$', '') from lethe_meta.purge_plans p "
            "join (select unnest($datasets::varchar[]) as dataset, unnest($folders::varchar[]) as folder) q "
            "on p.record_id like p.tenant_id || '/' || q.folder || '/%' "
            "where p.run_id = $run and p.source_table = 'quarantine.rows'"
        )
    if not parts:
        return
    union = " union ".join(parts)
    params: dict[str, object] = {"run": run_id}
    if "quarantine.rows" in have:
        params |= {"datasets": list(LANDING), "folders": [s.folder for s in LANDING.values()]}
    con.execute(
        f"insert into lethe_meta.purge_landing_files select distinct $run, tenant_id, dataset, path "  # noqa: S608
        f"from ({union}) f(tenant_id, dataset, path) where path is null or path like tenant_id || '/%'",
        params,
    )


def summarise(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    kind: str,
    as_of: datetime,
    policy_sha256: str,
    mart_found: bool = True,
) -> Plan:
    """The persisted plan's counts per tenant, category, reason and action (quarantined rows under 'quarantine')."""
    rows = con.execute(
        """
        select tenant_id, data_category, reason, action, count(distinct source_table || '/' || record_id)
        from lethe_meta.purge_plans where run_id = ?
        group by all order by all
        """,
        [run_id],
    ).fetchall()
    actions = tuple(PlanAction(t, c, r, a, int(n)) for t, c, r, a, n in rows)
    return Plan(run_id, kind, as_of, policy_sha256, actions, mart_found)


def load(con: duckdb.DuckDBPyConnection, run_id: str) -> Plan:
    """A persisted plan by run id (for the Airflow steps, which run in separate processes)."""
    row = con.execute(
        "select kind, as_of, policy_sha256 from lethe_meta.purge_runs where run_id = ?", [run_id]
    ).fetchone()
    if row is None:
        from lethe.errors import LetheError

        raise LetheError(f"purge run {run_id!r}: no such plan in lethe_meta.purge_runs")
    kind, as_of, sha = row
    return summarise(con, run_id=run_id, kind=kind, as_of=as_of, policy_sha256=sha)
