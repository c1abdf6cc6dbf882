"""Access and portability: everything held on one subject, across every source, as json, csv (zip), xlsx or pdf."""

from __future__ import annotations

# ruff: noqa: S608 -- SQL is assembled from our own table and column names; values are bound parameters.
import io
import json
import logging
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from lethe import catalog
from lethe.contracts.model import load_all_contracts
from lethe.dsr.identity import Subject, SubjectRef, resolve
from lethe.errors import LetheError
from lethe.fsutil import check_output_file, write_atomic
from lethe.keys import keyed_hash
from lethe.policy import CATEGORY_WORDS, load_policy
from lethe.purge.plan import crm_contact_attribute_sql
from lethe.settings import Settings

log = logging.getLogger(__name__)

FORMATS = ("json", "csv", "xlsx", "pdf")
# what each format's file is, by the name ending a reader expects (csv: a zip of one CSV per source)
_SUFFIX = {"json": ".json", "csv": ".zip", "xlsx": ".xlsx", "pdf": ".pdf"}
SOURCES = ("subject", "crm_contacts", "individuals", "consents", "interactions", "recordings", "transcripts",
           "email_events", "dsr_requests", "profiling", "quarantined")
PROFILING = ("Withdrawal risk: an estimate of how likely you are to withdraw your consent to marketing in the next "
             "30 days, computed from your email engagement (sends, opens, clicks, bounces, complaints) and your calls, "
             "with the signals that weighed most. You may object to this profiling at any time (GDPR Art. 21): from "
             "the next build you are no longer scored.")
CONSENT_PURPOSE_BASIS = "Art. 6(1)(a) GDPR: consent, only while yours is given and valid"
QUARANTINED = ("Held but not used: a record about you that failed its quality checks when it arrived; kept only "
               "until it is corrected or falls due, and erased with everything else on request.")
_DATASET = {
    "crm_contacts": "crm_contacts",
    "individuals": "crm_individuals",
    "consents": "crm_consents",
    "interactions": "contact_records",
    "recordings": "recordings",
    "transcripts": "transcripts",
    "email_events": "email_events",
    "dsr_requests": "dsr_requests",
}
_DUE = {
    "crm_contacts": ("crm.contact", "Id"),
    "interactions": ("interaction.metadata", "ContactId"),
    "recordings": ("interaction.recording", "ContactId"),
    "transcripts": ("interaction.transcript", "ContactId"),
    "email_events": ("campaign.event", "sg_event_id"),
}
_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# the PDF's sections, in words the person it is sent to reads: a heading and what the section holds
_PDF_SECTIONS = {
    "subject": ("How we identify you", "The identifiers under which your records are held, and the pseudonymous key "
                "that stands for you in our reports."),
    "crm_contacts": ("Your customer record", "Your contact details and account as the controller's CRM (Salesforce) "
                     "holds them."),
    "individuals": ("Your privacy choices", "What you told the controller about processing, profiling and "
                    "solicitation, and whether you asked to be forgotten."),
    "consents": ("Your consents", "Each consent or refusal you gave, for which purpose and channel, when and how it "
                 "was captured."),
    "interactions": ("Your calls and chats with the contact centre", "When each contact started and ended, its "
                     "channel, queue and agent."),
    "recordings": ("Call recordings", "The recordings of your calls that are still held (the audio files are in the "
                   "CSV export)."),
    "transcripts": ("Chat transcripts", "What was written in your chats, message by message."),
    "email_events": ("Emails sent to you", "Each email sent to you and what happened to it: delivered, opened, "
                     "clicked, bounced, unsubscribed."),
    "dsr_requests": ("Your data-protection requests", "The requests you made about your data and when each was "
                     "received."),
    "profiling": ("Scores derived about you", PROFILING),
    "quarantined": ("Records that failed our checks", QUARANTINED),
    "purposes": ("Why your data is processed", "Each purpose and its legal basis under the GDPR."),
}


# what a category holds that its name does not say, for the person reading their report
_PDF_CATEGORY_INCLUDES = {"crm.contact": " (with your privacy choices and consents)"}


def subject_key(settings: Settings, subject: Subject) -> str:
    """The subject's pseudonymous key (same as the marts': the key their Individual was first given, else their
    smallest contact id, else the first address, else their Individual; as lethe.purge.plan.person_key_sql and
    _subject_key_sql name them)."""
    if subject.kept_key:
        return subject.kept_key
    if subject.contact_id:
        return keyed_hash(settings.secret_key, subject.tenant_id, "contact", subject.contact_id)
    if not subject.emails + subject.phones:  # an Individual no Contact belongs to (a CRM flag on it)
        return keyed_hash(settings.secret_key, subject.tenant_id, "individual", subject.individual_id or "")
    address = (subject.emails + subject.phones)[0]
    return keyed_hash(settings.secret_key, subject.tenant_id, "email" if "@" in address else "phone", address)


def _fields(con: duckdb.DuckDBPyConnection, dataset: str) -> str | None:
    """SELECT list of raw.<dataset> (alias t) renamed to the source's field names (contract physicalName);
    None if the table does not exist."""
    contract = _contracts()[dataset]
    cols = set(catalog.columns(con, "raw", dataset))
    if not cols:
        return None
    return ", ".join(
        f't."{p.name}" as "{p.physical_name.rsplit("[].", 1)[-1]}"' for p in contract.properties if p.name in cols
    )


def _select_many(con: duckdb.DuckDBPyConnection, dataset: str, matches: str, n: int) -> list[pl.DataFrame]:
    """Rows of raw.<dataset> per subject: `matches` is SQL of (_idx, _row) pairs (subject index, t.rowid),
    joined once for every subject; one frame per subject, in scan order, renamed as _fields says."""
    select = _fields(con, dataset)
    if select is None:
        return [pl.DataFrame() for _ in range(n)]
    frame = con.execute(
        f"select m._idx, {select} from raw.{dataset} t join (select distinct _idx, _row from ({matches})) m "
        f"on t.rowid = m._row order by m._idx, t.rowid"
    ).pl()
    return _per_subject(frame, n)


_CONTRACTS: dict[str, Any] = {}


def _contracts() -> dict[str, Any]:
    if not _CONTRACTS:
        _CONTRACTS.update(load_all_contracts())
    return _CONTRACTS


def _chats_in_order(frame: pl.DataFrame) -> pl.DataFrame:
    """Transcript messages chat by chat (the earliest chat first), each chat in the order it was said: the rows
    come in scan order, which interleaves the chats of one person."""
    if frame.height == 0:
        return frame
    return frame.sort(
        [pl.col("AbsoluteTime").min().over("ContactId"), "ContactId", "AbsoluteTime", "index"], nulls_last=True
    )


def _owned_addresses(con: duckdb.DuckDBPyConnection, settings: Settings, subjects: list[Subject]) -> pl.DataFrame:
    """(_idx, tenant_id, addr): each subject's emails and phones, less those the built marts give to another
    person. An address two CRM contacts hold (a household email) is one person's, the contact modified last, as
    the erasure and the marts decide; the other's export held all its mails and calls, and the chats in them.
    Before the first build every address is kept."""
    frame = pl.DataFrame(
        {"_idx": [i for i, s in enumerate(subjects) for _ in s.emails + s.phones],
         "tenant_id": [s.tenant_id for s in subjects for _ in s.emails + s.phones],
         "addr": [a for s in subjects for a in s.emails + s.phones],
         "key": [subject_key(settings, s) for s in subjects for _ in s.emails + s.phones]},
        schema={"_idx": pl.Int64, "tenant_id": pl.String, "addr": pl.String, "key": pl.String})
    if frame.height == 0 or not catalog.table_exists(con, "intermediate", "int_subject_identities_resolved"):
        return frame.drop("key")
    con.register("_addr_all", frame)
    try:
        return con.execute(
            "select a._idx, a.tenant_id, a.addr from _addr_all a where not exists (select 1 from "
            "intermediate.int_subject_identities_resolved i where i.tenant_id = a.tenant_id and i.identity_kind in "
            "('email', 'phone') and i.identity_value = a.addr and i.subject_key <> a.key) order by a._idx"
        ).pl()
    finally:
        con.unregister("_addr_all")


def collect_many(con: duckdb.DuckDBPyConnection, settings: Settings, subjects: list[Subject]) -> list[dict[str, pl.DataFrame]]:
    """For each subject, one frame per source with everything held on them (source ids kept); every source
    is read once for all the subjects (equality joins on the subject's ids and addresses)."""
    n = len(subjects)
    con.register("_subj", pl.DataFrame(
        {"_idx": list(range(n)), "tenant_id": [s.tenant_id for s in subjects],
         "cid": [s.contact_id for s in subjects], "ind": [s.individual_id for s in subjects]},
        schema={"_idx": pl.Int64, "tenant_id": pl.String, "cid": pl.String, "ind": pl.String}))
    con.register("_addr", _owned_addresses(con, settings, subjects))
    try:
        def by(dataset: str, column: str, key: str = "addr", source: str = "_addr") -> list[pl.DataFrame]:
            return _select_many(con, dataset, f"select s._idx, t.rowid as _row from raw.{dataset} t join {source} s "
                                              f"on t.tenant_id = s.tenant_id and t.{column} = s.{key}", n)

        # the person's every CRM contact: the one named, and any other sharing its Individual (an old duplicate)
        contacts = _select_many(con, "crm_contacts", " union ".join(
            f"select s._idx, t.rowid as _row from raw.crm_contacts t join _subj s "
            f"on t.tenant_id = s.tenant_id and t.{col} = s.{key}" for col, key in (("id", "cid"), ("individual_id", "ind"))), n)
        contact_ids = [sorted({*([s.contact_id] if s.contact_id else []), *(f["Id"].drop_nulls() if "Id" in f.columns else [])})
                       for s, f in zip(subjects, contacts, strict=True)]
        con.register("_cids", pl.DataFrame(
            {"_idx": [i for i, ids in enumerate(contact_ids) for _ in ids],
             "tenant_id": [s.tenant_id for s, ids in zip(subjects, contact_ids, strict=True) for _ in ids],
             "cid": [c for ids in contact_ids for c in ids]},
            schema={"_idx": pl.Int64, "tenant_id": pl.String, "cid": pl.String}))
        # interactions from any of their addresses (not one whose crmContactId attribute names someone else's
        # contact), and those naming any of their CRM contacts there (a TASK with no customer endpoint names its
        # customer only there)
        attribute = crm_contact_attribute_sql("t")
        interactions = _select_many(con, "contact_records", (
            "select s._idx, t.rowid as _row from raw.contact_records t join _addr s "
            "on t.tenant_id = s.tenant_id and t.customer_address = s.addr "
            f"where coalesce(t.attributes not like '%crmContactId%', true) or {attribute} is null "
            f"or exists (select 1 from _cids c where c._idx = s._idx and c.cid = {attribute}) union all "
            "select s._idx, t.rowid as _row from raw.contact_records t join _cids s "
            f"on t.tenant_id = s.tenant_id and {attribute} = s.cid "
            "where t.attributes like '%crmContactId%'"), n)
        # requests naming any contact of the person (not only the one keying them), or any of their addresses
        dsr = _select_many(con, "dsr_requests", " union all ".join(
            f"select s._idx, t.rowid as _row from raw.dsr_requests t join {src} s "
            f"on t.tenant_id = s.tenant_id and t.{col} = s.{key}"
            for col, key, src in (("crm_contact_id", "cid", "_cids"), ("subject_email", "addr", "_addr"),
                                  ("subject_phone", "addr", "_addr"))), n)
        calls = [(i, s.tenant_id, cid, loc) for i, (s, f) in enumerate(zip(subjects, interactions, strict=True))
                 if f.height for cid, loc in zip(f["ContactId"], f["Recording.Location"], strict=True)]
        con.register("_calls", pl.DataFrame(
            {"_idx": [c[0] for c in calls], "tenant_id": [c[1] for c in calls], "contact_id": [c[2] for c in calls],
             "loc": [c[3] for c in calls]},
            schema={"_idx": pl.Int64, "tenant_id": pl.String, "contact_id": pl.String, "loc": pl.String}))
        try:
            # a Recording.Location is the recording's path or ends in '/' + it: joined on the file name, then checked
            recordings = _select_many(con, "recordings", (
                "select c._idx, t.rowid as _row from raw.recordings t join _calls c on t.tenant_id = c.tenant_id "
                "and regexp_extract(t.recording_path, '[^/]*$') = regexp_extract(c.loc, '[^/]*$') "
                "where t.recording_path = c.loc or c.loc like '%/' || t.recording_path"), n)
            # each chat whole and in the order it was said (rows come in scan order: chats interleaved)
            transcripts = [_chats_in_order(f) for f in by("transcripts", "contact_id", "contact_id", "_calls")]
        finally:
            con.unregister("_calls")
        individuals = by("crm_individuals", "id", "ind", "_subj")
        consents = by("crm_consents", "party_id", "ind", "_subj")
        events = by("email_events", "email")
    finally:
        for name in ("_subj", "_addr", "_cids"):
            con.unregister(name)
    profiling = _profiling_many(con, settings, subjects)
    quarantined = _quarantined_many(con, settings, subjects, contact_ids,
                                    [f["ContactId"] if f.height else pl.Series([], dtype=pl.String) for f in interactions])
    return [
        {
            "subject": pl.DataFrame({
                "tenant_id": [subject.tenant_id],
                "subject_key": [subject_key(settings, subject)],
                "crm_contact_id": [subject.contact_id],
                "emails": [list(subject.emails)],  # a list in the JSON, joined with '|' in the CSV and XLSX
                "phones": [list(subject.phones)],
            }, schema_overrides={"emails": pl.List(pl.String), "phones": pl.List(pl.String)}),
            "crm_contacts": contacts[i],
            "individuals": individuals[i],
            "consents": consents[i],
            "interactions": interactions[i],
            "recordings": recordings[i],
            "transcripts": transcripts[i],
            "email_events": events[i],
            "dsr_requests": dsr[i],
            "profiling": profiling[i],
            "quarantined": quarantined[i],
        }
        for i, subject in enumerate(subjects)
    ]


def _register_keys(con: duckdb.DuckDBPyConnection, settings: Settings, subjects: list[Subject]) -> None:
    """Register _keys(_idx, tenant_id, subject_key): each subject's index and pseudonymous key (unregister it)."""
    con.register("_keys", pl.DataFrame(
        {"_idx": list(range(len(subjects))), "tenant_id": [s.tenant_id for s in subjects],
         "subject_key": [subject_key(settings, s) for s in subjects]},
        schema={"_idx": pl.Int64, "tenant_id": pl.String, "subject_key": pl.String}))


def _per_subject(frame: pl.DataFrame, n: int) -> list[pl.DataFrame]:
    parts = frame.partition_by("_idx", as_dict=True, include_key=False, maintain_order=True)
    empty = frame.drop("_idx").clear()
    return [parts.get((i,), empty) for i in range(n)]


def _profiling_many(con: duckdb.DuckDBPyConnection, settings: Settings, subjects: list[Subject]) -> list[pl.DataFrame]:
    """Per subject, their withdrawal-risk scores (profiling: personal data the warehouse derived about them, so
    part of what they have a right to see), with what the score is and their right to object."""
    if not catalog.table_exists(con, "marts", "withdrawal_risk_scores"):
        return [pl.DataFrame() for _ in subjects]
    _register_keys(con, settings, subjects)
    try:
        frame = con.execute(
            "select k._idx, 'withdrawal_risk' as profile, r.scored_at, r.score, r.top_signals, $what as description "
            "from marts.withdrawal_risk_scores r join _keys k on r.tenant_id = k.tenant_id "
            "and r.subject_key = k.subject_key order by k._idx, r.scored_at",
            {"what": PROFILING},
        ).pl()
    finally:
        con.unregister("_keys")
    return _per_subject(frame, len(subjects))


def _quarantined_many(con: duckdb.DuckDBPyConnection, settings: Settings, subjects: list[Subject],
                      contact_ids: list[list[str]], calls: list[pl.Series]) -> list[pl.DataFrame]:
    """Per subject, the quarantined records that hold one of their identities (an address, a phone number in any
    human format, the id of any of their CRM contacts, the ContactId of one of their calls), as the erasure finds
    them: data held on them even though no mart uses it."""
    from lethe.refused import identities_in_texts

    n = len(subjects)
    if not catalog.table_exists(con, "quarantine", "rows"):
        return [pl.DataFrame() for _ in subjects]
    key = settings.secret_key
    identities = [
        (i, s.tenant_id, kind, keyed_hash(key, s.tenant_id, kind, value))
        for i, s in enumerate(subjects)
        for kind, values in (("email", [e.lower() for e in s.emails]), ("phone", s.phones),
                             ("contact", contact_ids[i]),
                             ("connect_contact", calls[i].drop_nulls().unique().to_list()))
        for value in values
    ]
    frame = pl.DataFrame(identities, orient="row", schema={
        "_idx": pl.Int64, "tenant_id": pl.String, "kind": pl.String, "identity_hash": pl.String})
    texts = con.execute(
        "select tenant_id as tenant, source_file || '#' || coalesce(source_row, 0) as rel, record as text "
        "from quarantine.rows where record is not null and tenant_id in (select unnest($t::varchar[]))",
        {"t": sorted({s.tenant_id for s in subjects})},
    ).pl()
    con.register("_export_identities", frame)
    try:
        hits = identities_in_texts(con, texts, "_export_identities")
    finally:
        con.unregister("_export_identities")
    found = pl.DataFrame(hits, orient="row", schema={"tenant_id": pl.String, "rel": pl.String,
                                                     "identity_hash": pl.String})
    con.register("_hits", found.join(frame.select("_idx", "tenant_id", "identity_hash"),
                                     on=["tenant_id", "identity_hash"]).select("_idx", "tenant_id", "rel").unique())
    try:
        rows = con.execute(
            "select h._idx, q.dataset, q.source_file, q.source_row, q.reason, q.quarantined_at, q.record, "
            "$what as description from quarantine.rows q join _hits h on q.tenant_id = h.tenant_id "
            "and q.source_file || '#' || coalesce(q.source_row, 0) = h.rel order by h._idx, q.source_file, q.source_row",
            {"what": QUARANTINED},
        ).pl()
    finally:
        con.unregister("_hits")
    return _per_subject(rows, n)


def collect(con: duckdb.DuckDBPyConnection, settings: Settings, subject: Subject) -> dict[str, pl.DataFrame]:
    """One frame per source with everything held on the subject (source ids kept)."""
    return collect_many(con, settings, [subject])[0]


def _due_rows(con: duckdb.DuckDBPyConnection, settings: Settings, subjects: list[Subject]) -> list[list[tuple]] | None:
    """Per subject, (data_category, source_table, record_id, due_at) from marts.fct_retention_status, read once
    for all the subjects; None if the mart is not built."""
    if not catalog.table_exists(con, "marts", "fct_retention_status"):
        return None
    _register_keys(con, settings, subjects)
    try:
        rows = con.execute(
            "select k._idx, r.data_category, r.source_table, r.record_id, r.due_at from marts.fct_retention_status r "
            "join _keys k on r.tenant_id = k.tenant_id and r.subject_key = k.subject_key order by all"
        ).fetchall()
    finally:
        con.unregister("_keys")
    out: list[list[tuple]] = [[] for _ in subjects]
    for idx, *row in rows:
        out[idx].append(tuple(row))
    return out


def _retention(policy: Any, frames: dict[str, pl.DataFrame], due_rows: list[tuple] | None) -> dict[str, Any]:
    """Per category (the tenant's policy): retention days and, per record, the date it falls due (from
    marts.fct_retention_status if built, else computed here from the same anchors)."""
    out: dict[str, Any] = {c: {"days": d, "records": []} for c, d in policy.retention.items()}
    if due_rows is not None:
        for category, table, record, due in due_rows:
            out.setdefault(category, {"days": None, "records": []})["records"].append(
                {"source_table": table, "record_id": record, "due_at": due}
            )
        return out
    anchors = {
        "interactions": "DisconnectTimestamp",
        "recordings": "DisconnectTimestamp",
        "transcripts": "DisconnectTimestamp",
        "email_events": "timestamp",
    }
    ctr = frames["interactions"]
    for source, (category, key) in _DUE.items():
        days = policy.retention[category]
        if source == "crm_contacts":
            frame = frames["crm_contacts"]
            if frame.height == 0:
                continue
            due = frame.select(
                pl.col("Id").alias("record_id"),
                pl.when(pl.col("Customer_Status__c") == "active").then(None).otherwise(
                    pl.max_horizontal(pl.col("LastActivityDate"), pl.col("Contract_End_Date__c")).cast(pl.Datetime)
                    + pl.duration(days=days)
                ).alias("due_at"),
            )
        elif source in ("recordings", "transcripts"):
            if ctr.height == 0:
                continue
            base = ctr.filter(pl.col("Recording.Location").is_not_null()) if source == "recordings" else ctr.filter(
                pl.col("ContactId").is_in(frames["transcripts"]["ContactId"].implode()) if frames["transcripts"].height
                else pl.lit(False))
            if base.height == 0:
                continue
            due = base.select(pl.col("ContactId").alias("record_id"),
                              (pl.col(anchors[source]) + pl.duration(days=days)).alias("due_at"))
        else:
            frame = frames[source]
            if frame.height == 0:
                continue
            due = frame.select(pl.col(key).alias("record_id"), (pl.col(anchors[source]) + pl.duration(days=days)).alias("due_at"))
        out[category]["records"] += [{"source_table": _DATASET[source], **r} for r in due.to_dicts()]
    return out


def _purposes(con: duckdb.DuckDBPyConnection, subject: Subject, frames: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """Why each source is processed (purpose and legal basis from its data contract) and the consent purposes."""
    contracts = _contracts()
    out: list[dict[str, Any]] = [
        {"source": source, "purpose": contracts[ds].purpose, "legal_basis": contracts[ds].legal_basis}
        for source, ds in _DATASET.items()
        if frames[source].height
    ]
    if catalog.table_exists(con, "raw", "crm_purposes") and frames["consents"].height:
        ids = frames["consents"]["DataUsePurposeId"].drop_nulls().unique().to_list()
        rows = con.execute(
            "select id, name, description from raw.crm_purposes where tenant_id = ? and id in (select unnest(?::varchar[]))",
            [subject.tenant_id, ids or [""]],
        ).fetchall()
        # processing for a purpose the person was asked to consent to rests on that consent (Art. 6(1)(a)); the
        # consent records themselves are kept under the contract's basis (Art. 7(1): demonstrating consent)
        out += [{"source": "consents", "Id": i, "Name": n, "Description": d, "legal_basis": CONSENT_PURPOSE_BASIS}
                for i, n, d in rows]
    return out


def build_documents(con: duckdb.DuckDBPyConnection, settings: Settings,
                    subjects: list[Subject]) -> list[tuple[dict[str, Any], dict[str, pl.DataFrame]]]:
    """For each subject, the export as one JSON-ready object (CONTRACT keys) and the per-source frames behind
    it; the warehouse is read once for all of them."""
    policy = load_policy(settings.tenants_file)
    due = _due_rows(con, settings, subjects)
    out = []
    for i, (subject, frames) in enumerate(zip(subjects, collect_many(con, settings, subjects), strict=True)):
        doc: dict[str, Any] = {
            "controller": policy.tenant(subject.tenant_id).controller,
            "processor": "the contact centre (Lethe), on the controller's behalf",
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "as_of": settings.as_of.isoformat(),
        }
        for source in SOURCES:
            doc[source] = frames[source].to_dicts()
        doc["retention"] = _retention(policy.tenant(subject.tenant_id), frames, None if due is None else due[i])
        doc["purposes"] = _purposes(con, subject, frames)
        doc["legal_basis"] = {source: _contracts()[ds].legal_basis for source, ds in _DATASET.items()}
        out.append((doc, frames))
    return out


def build_document(con: duckdb.DuckDBPyConnection, settings: Settings, subject: Subject) -> tuple[dict[str, Any], dict[str, pl.DataFrame]]:
    """The export of one subject as one JSON-ready object (CONTRACT keys) and the per-source frames behind it."""
    return build_documents(con, settings, [subject])[0]


def _json_default(value: Any) -> str:
    """A value json cannot write as itself: a time with its zone (the warehouse keeps times in UTC without one:
    '2026-07-10T01:37:45+00:00', not a local time of nowhere), a date as ISO 8601, anything else as text."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _csv_frame(frame: pl.DataFrame) -> pl.DataFrame:
    nested = [c for c, t in frame.schema.items() if isinstance(t, pl.List | pl.Struct)]
    return frame.with_columns([pl.col(c).cast(pl.List(pl.Utf8)).list.join("|") for c in nested]) if nested else frame


def render_csv_zip(frames: dict[str, pl.DataFrame], doc: dict[str, Any], landing: Path, tenant: str) -> bytes:
    """A zip of one CSV per source, the retention and purposes as CSV, and the recording audio files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for source in SOURCES:
            zf.writestr(f"{source}.csv", _csv_frame(frames[source]).write_csv())
        zf.writestr("purposes.csv", pl.DataFrame(doc["purposes"] or [{"source": None}]).write_csv())
        retention = [{"data_category": c, "days": v["days"], **r} for c, v in doc["retention"].items() for r in v["records"]]
        zf.writestr("retention.csv", pl.DataFrame(retention or [{"data_category": None}]).write_csv())
        zf.writestr("controller.txt", f"controller: {doc['controller']}\n")
        for rel in frames["recordings"]["path"].to_list() if frames["recordings"].height else []:
            path = landing / tenant / rel
            if path.is_file():
                zf.write(path, f"recordings/{rel}")
    return buf.getvalue()


def _xlsx_value(value: Any) -> Any:
    """A value as an xlsx cell holds it: a date as ISO 8601 text, a text without the control characters the
    format cannot hold (a chat's vertical tab or bell: openpyxl refuses them); everything else as it is."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def render_xlsx(frames: dict[str, pl.DataFrame], doc: dict[str, Any]) -> bytes:
    """One sheet per source (openpyxl), plus retention and purposes sheets; text keeps everything but the control
    characters xlsx cannot hold (the json and csv exports keep those too)."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    sheets = {s: _csv_frame(frames[s]) for s in SOURCES}
    sheets["retention"] = pl.DataFrame(
        [{"data_category": c, "days": v["days"], **r} for c, v in doc["retention"].items() for r in v["records"]]
        or [{"data_category": None}]
    )
    sheets["purposes"] = pl.DataFrame(doc["purposes"] or [{"source": None}])
    for name, frame in sheets.items():
        ws = wb.create_sheet(name[:31])
        ws.append([_xlsx_value(c) for c in frame.columns])
        for row in frame.iter_rows():
            ws.append([_xlsx_value(v) for v in row])
            for cell in ws[ws.max_row]:
                if cell.data_type == "f":  # openpyxl made a formula of a text starting with '='; it is the data
                    cell.data_type = "s"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _purpose_in_words(record: dict[str, Any]) -> str:
    """One purpose as the PDF says it: what is processed (a section's heading, or a consent purpose by its name),
    why, and on what legal basis."""
    basis = f" Legal basis: {record['legal_basis']}." if record.get("legal_basis") else ""
    if record.get("Name"):  # a consent purpose (Salesforce DataUsePurpose)
        about = f" ({record['Description']})" if record.get("Description") else ""
        return f"{record['Name']}{about}, a purpose you were asked to consent to.{basis}"
    what = _PDF_SECTIONS.get(record.get("source", ""), (record.get("source", ""), ""))[0]
    return f"{what}: {record.get('purpose') or 'purpose not stated'}.{basis}"


def _profile_in_words(record: dict[str, Any]) -> str:
    """One score derived about the person, as the PDF says it: what, when, how likely, and the signals that
    weighed most in words (the JSON, CSV and XLSX keep the stored text)."""
    from lethe.risk.features import signals_in_words

    when = record.get("scored_at")
    day = f" on {when:%d %B %Y}" if isinstance(when, datetime | date) else f" on {when}" if when else ""
    score = record.get("score")
    text = f"Withdrawal risk{day}: " + (
        f"an estimated {float(score):.1%} likelihood that you withdraw your consent to marketing within 30 days."
        if score is not None else "no score.")
    signals = signals_in_words(record.get("top_signals"))
    return text + (f" What weighed most: {signals}." if signals else "")


def _pdf_value(value: Any) -> str:
    """A value as the PDF says it: a list as its items separated by commas (not Python's ['a', 'b']), a nested
    record as its fields, anything else as the JSON export writes it."""
    if isinstance(value, list | tuple):
        return ", ".join(_pdf_value(v) for v in value if v not in (None, ""))
    if isinstance(value, dict):
        return ", ".join(f"{k} {_pdf_value(v)}" for k, v in value.items() if v not in (None, "", []))
    return _json_default(value)


def render_pdf(doc: dict[str, Any]) -> bytes:
    """A readable report a person could be sent (fpdf2; text extractable)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    family = "Helvetica"
    if _FONT.exists():
        pdf.add_font("DejaVu", "", str(_FONT))
        family = "DejaVu"
    pdf.set_font(family, size=15)
    pdf.multi_cell(0, 8, "Your personal data: access request report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=9)
    pdf.multi_cell(0, 5, f"Controller: {doc['controller']}\nPrepared by: {doc['processor']}\n"
                         f"Generated: {doc['generated_at']} (as of {doc['as_of']})", new_x="LMARGIN", new_y="NEXT")
    for section in (*SOURCES, "purposes"):
        records = doc[section]
        heading, about = _PDF_SECTIONS.get(section, (section.replace("_", " ").capitalize(), ""))
        pdf.ln(2)
        pdf.set_font(family, size=12)
        pdf.multi_cell(0, 7, f"{heading} ({len(records)})", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, size=8)
        if about:
            pdf.multi_cell(0, 4, about, new_x="LMARGIN", new_y="NEXT")
        if not records:
            pdf.multi_cell(0, 4, "None held.", new_x="LMARGIN", new_y="NEXT")
        for record in records:
            if section == "profiling":
                text = _profile_in_words(record)
            elif section == "purposes":
                text = _purpose_in_words(record)
            else:
                text = "; ".join(f"{k}: {_pdf_value(v)}" for k, v in record.items() if v not in (None, "", []))
            pdf.multi_cell(0, 4, text or "-", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(family, size=12)
    pdf.multi_cell(0, 7, "How long each record is kept, and when it falls due", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=8)
    pdf.multi_cell(0, 4, "A record is deleted once it falls due, unless the law requires it to be kept longer "
                         "(a legal hold), or you asked us to restrict its use (then it is only stored until the "
                         "restriction is lifted). Your customer record is kept while you are an active customer.",
                   new_x="LMARGIN", new_y="NEXT")
    for category, value in doc["retention"].items():
        kept = f"kept {value['days']} days" if value["days"] is not None else "kept under the controller's policy"
        words = CATEGORY_WORDS.get(category, category) + _PDF_CATEGORY_INCLUDES.get(category, "")
        pdf.multi_cell(0, 4, f"{words}: {kept}", new_x="LMARGIN", new_y="NEXT")
        for r in value["records"]:
            due = r["due_at"]
            when = (f"falls due on {due:%d %B %Y}" if isinstance(due, datetime | date)
                    else "no due date yet" if due is None else f"falls due {due}")
            pdf.multi_cell(0, 4, f"    {r['source_table']} {r['record_id']}: {when}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def render(fmt: str, doc: dict[str, Any], frames: dict[str, pl.DataFrame], settings: Settings, tenant: str) -> bytes:
    """The export's bytes in one of FORMATS."""
    if fmt == "json":
        return json.dumps(doc, indent=2, default=_json_default, ensure_ascii=False).encode()
    if fmt == "csv":
        return render_csv_zip(frames, doc, settings.landing, tenant)
    if fmt == "xlsx":
        return render_xlsx(frames, doc)
    if fmt == "pdf":
        return render_pdf(doc)
    raise LetheError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")


def _check_suffix(fmt: str, out: Path) -> None:
    """Refuse an --out whose name says another format than --format writes (`--format csv --out x.csv` would
    write a zip that a spreadsheet then fails to open as a CSV); a name with no such ending is left as it is."""
    suffix = out.suffix.lower()
    if suffix in {*_SUFFIX.values(), ".csv"} and suffix != _SUFFIX[fmt]:
        what = "a zip of one CSV per source" if fmt == "csv" else f"a {fmt.upper()} file"
        raise LetheError(f"--out {out}: --format {fmt} writes {what}; name it {out.with_suffix(_SUFFIX[fmt]).name}")


def export_subject(settings: Settings, tenant: str, ref: SubjectRef, fmt: str, out: Path) -> Path:
    """Write everything held on one subject to `out` in the given format; return the path."""
    from lethe.warehouse import connect

    load_policy(settings.tenants_file).tenant(tenant)
    if fmt not in FORMATS:
        raise LetheError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    check_output_file(out)
    _check_suffix(fmt, out)
    con = connect(settings)
    try:
        subject = resolve(con, tenant, ref)
        doc, frames = build_document(con, settings, subject)
    finally:
        con.close()
    write_atomic(out, render(fmt, doc, frames, settings, tenant))
    log.info("exported subject to %s (%s)", out, fmt)
    return out
