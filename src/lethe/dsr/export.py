"""Access and portability: everything held on one subject, across every source, as json, csv (zip), xlsx or pdf."""

from __future__ import annotations

# ruff: noqa: S608 -- SQL is assembled from our own table and column names; values are bound parameters.
import io
import json
import logging
import os
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
from lethe.keys import keyed_hash
from lethe.policy import load_policy
from lethe.settings import Settings

log = logging.getLogger(__name__)

FORMATS = ("json", "csv", "xlsx", "pdf")
SOURCES = ("subject", "crm_contacts", "individuals", "consents", "interactions", "recordings", "transcripts",
           "email_events", "dsr_requests")
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


def subject_key(settings: Settings, subject: Subject) -> str:
    """The subject's pseudonymous key (same as the marts': contact id, else the first address)."""
    if subject.contact_id:
        return keyed_hash(settings.secret_key, subject.tenant_id, "contact", subject.contact_id)
    address = (subject.emails + subject.phones)[0]
    return keyed_hash(settings.secret_key, subject.tenant_id, "email" if "@" in address else "phone", address)


def _select(con: duckdb.DuckDBPyConnection, dataset: str, where: str, params: dict[str, Any]) -> pl.DataFrame:
    """Rows of raw.<dataset> matching `where`, columns renamed to the source's field names (contract physicalName)."""
    contract = _contracts()[dataset]
    cols = set(catalog.columns(con, "raw", dataset))
    if not cols:
        return pl.DataFrame()
    select = ", ".join(
        f'"{p.name}" as "{p.physical_name.rsplit("[].", 1)[-1]}"' for p in contract.properties if p.name in cols
    )
    used = {k: v for k, v in params.items() if f"${k}" in where}
    return con.execute(f"select {select} from raw.{dataset} t where {where}", used).pl()


_CONTRACTS: dict[str, Any] = {}


def _contracts() -> dict[str, Any]:
    if not _CONTRACTS:
        _CONTRACTS.update(load_all_contracts())
    return _CONTRACTS


def collect(con: duckdb.DuckDBPyConnection, settings: Settings, subject: Subject) -> dict[str, pl.DataFrame]:
    """One frame per source with everything held on the subject (source ids kept)."""
    p = {
        "t": subject.tenant_id,
        "cid": subject.contact_id,
        "ind": subject.individual_id,
        "addr": list(subject.emails + subject.phones) or [""],
    }
    interactions = _select(con, "contact_records", "t.tenant_id = $t and t.customer_address in (select unnest($addr))", p)
    ids = interactions["ContactId"].to_list() if interactions.height else []
    locations = (
        [x for x in interactions["Recording.Location"].to_list() if x] if interactions.height else []
    )
    frames = {
        "subject": pl.DataFrame(
            {
                "tenant_id": [subject.tenant_id],
                "subject_key": [subject_key(settings, subject)],
                "crm_contact_id": [subject.contact_id],
                "emails": [", ".join(subject.emails)],
                "phones": [", ".join(subject.phones)],
            }
        ),
        "crm_contacts": _select(con, "crm_contacts", "t.tenant_id = $t and t.id = $cid", p),
        "individuals": _select(con, "crm_individuals", "t.tenant_id = $t and t.id = $ind", p),
        "consents": _select(con, "crm_consents", "t.tenant_id = $t and t.party_id = $ind", p),
        "interactions": interactions,
        "recordings": _select(
            con,
            "recordings",
            "t.tenant_id = $t and (t.recording_path in (select unnest($loc::varchar[])) or "
            "exists (select 1 from unnest($loc::varchar[]) l(x) where x like '%/' || t.recording_path))",
            {"t": subject.tenant_id, "loc": locations or [""]},
        ),
        "transcripts": _select(
            con, "transcripts", "t.tenant_id = $t and t.contact_id in (select unnest($ids::varchar[]))",
            {"t": subject.tenant_id, "ids": ids or [""]},
        ),
        "email_events": _select(con, "email_events", "t.tenant_id = $t and t.email in (select unnest($addr))", p),
        "dsr_requests": _select(
            con, "dsr_requests",
            "t.tenant_id = $t and (t.crm_contact_id = $cid or t.subject_email in (select unnest($addr)) "
            "or t.subject_phone in (select unnest($addr)))",
            p,
        ),
    }
    return frames


def _retention(con: duckdb.DuckDBPyConnection, settings: Settings, subject: Subject,
               frames: dict[str, pl.DataFrame]) -> dict[str, Any]:
    """Per category: retention days and, per record, the date it falls due (from marts.fct_retention_status if
    built, else computed here from the same anchors)."""
    policy = load_policy(settings.tenants_file).tenant(subject.tenant_id)
    out: dict[str, Any] = {c: {"days": d, "records": []} for c, d in policy.retention.items()}
    if catalog.table_exists(con, "marts", "fct_retention_status"):
        rows = con.execute(
            "select data_category, source_table, record_id, due_at from marts.fct_retention_status "
            "where tenant_id = ? and subject_key = ? order by all",
            [subject.tenant_id, subject_key(settings, subject)],
        ).fetchall()
        for category, table, record, due in rows:
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
        out += [{"source": "consents", "Id": i, "Name": n, "Description": d,
                 "legal_basis": contracts["crm_consents"].legal_basis} for i, n, d in rows]
    return out


def build_document(con: duckdb.DuckDBPyConnection, settings: Settings, subject: Subject) -> tuple[dict[str, Any], dict[str, pl.DataFrame]]:
    """The export as one JSON-ready object (CONTRACT keys) and the per-source frames behind it."""
    frames = collect(con, settings, subject)
    policy = load_policy(settings.tenants_file).tenant(subject.tenant_id)
    doc: dict[str, Any] = {
        "controller": policy.controller,
        "processor": "the contact centre (Lethe), on the controller's behalf",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "as_of": settings.as_of.isoformat(),
    }
    for source in SOURCES:
        doc[source] = frames[source].to_dicts()
    doc["retention"] = _retention(con, settings, subject, frames)
    doc["purposes"] = _purposes(con, subject, frames)
    doc["legal_basis"] = {source: _contracts()[ds].legal_basis for source, ds in _DATASET.items()}
    return doc, frames


def _json_default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _write_atomic(out: Path, data: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, out)


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


def render_xlsx(frames: dict[str, pl.DataFrame], doc: dict[str, Any]) -> bytes:
    """One sheet per source (openpyxl), plus retention and purposes sheets."""
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
        ws.append(frame.columns)
        for row in frame.iter_rows():
            ws.append([v.isoformat() if isinstance(v, datetime | date) else v for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


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
        pdf.ln(2)
        pdf.set_font(family, size=12)
        pdf.multi_cell(0, 7, f"{section.replace('_', ' ').title()} ({len(records)})", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, size=8)
        for record in records:
            text = "; ".join(f"{k}: {_json_default(v)}" for k, v in record.items() if v not in (None, "", []))
            pdf.multi_cell(0, 4, text or "-", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(family, size=12)
    pdf.multi_cell(0, 7, "When each record falls due", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=8)
    for category, value in doc["retention"].items():
        pdf.multi_cell(0, 4, f"{category}: kept {value['days']} days", new_x="LMARGIN", new_y="NEXT")
        for r in value["records"]:
            pdf.multi_cell(0, 4, f"    {r['source_table']} {r['record_id']}: due {_json_default(r['due_at'])}",
                           new_x="LMARGIN", new_y="NEXT")
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


def export_subject(settings: Settings, tenant: str, ref: SubjectRef, fmt: str, out: Path) -> Path:
    """Write everything held on one subject to `out` in the given format; return the path."""
    from lethe.warehouse import connect

    load_policy(settings.tenants_file).tenant(tenant)
    if fmt not in FORMATS:
        raise LetheError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    con = connect(settings)
    try:
        subject = resolve(con, tenant, ref)
        doc, frames = build_document(con, settings, subject)
    finally:
        con.close()
    _write_atomic(out, render(fmt, doc, frames, settings, tenant))
    log.info("exported subject to %s (%s)", out, fmt)
    return out
