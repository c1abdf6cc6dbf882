"""Salesforce exports (Contact, Individual, ContactPointTypeConsent) plus DSR requests and legal holds."""

from __future__ import annotations

import numpy as np
import polars as pl

from lethe.synth import fmt
from lethe.synth.subjects import NULL_T, Window
from lethe.synth.vocab import CAPTURE_SOURCES, DSR_DETAILS, HOLD_REASONS, NOTICE_VERSIONS

DAY = fmt.DAY
CONTACT_COLUMNS = ("Id", "AccountId", "Salutation", "FirstName", "LastName", "Email", "Phone", "MobilePhone",
                   "MailingStreet", "MailingCity", "MailingPostalCode", "MailingCountry", "Birthdate",
                   "HasOptedOutOfEmail", "DoNotCall", "IndividualId", "OwnerId", "CreatedDate", "LastModifiedDate",
                   "LastActivityDate", "Customer_Status__c", "Contract_End_Date__c", "IsDeleted")
INDIVIDUAL_COLUMNS = ("Id", "FirstName", "LastName", "BirthDate", "HasOptedOutProcessing", "HasOptedOutProfiling",
                      "HasOptedOutSolicit", "HasOptedOutTracking", "ShouldForget", "SendIndividualData",
                      "CanStorePiiElsewhere", "OwnerId", "CreatedDate", "LastModifiedDate", "IsDeleted")
CONSENT_COLUMNS = ("Id", "Name", "PartyId", "ContactPointType", "DataUsePurposeId", "PrivacyConsentStatus",
                   "CaptureDate", "CaptureContactPointType", "CaptureSource", "DoubleConsentCaptureDate",
                   "EffectiveFrom", "EffectiveTo", "CreatedDate", "LastModifiedDate", "Capture_Method__c",
                   "Notice_Version__c", "IsDeleted")
PURPOSE_COLUMNS = ("Id", "Name", "Description", "CanDataSubjectOptOut", "LegalBasisId", "CreatedDate",
                   "LastModifiedDate", "IsDeleted")
DSR_COLUMNS = ("request_id", "received_at", "type", "crm_contact_id", "subject_email", "subject_phone",
               "verified_at", "details")
HOLD_COLUMNS = ("hold_id", "crm_contact_id", "subject_email", "reason", "start_date", "end_date")
DSR_TYPES = ("access", "erasure", "rectification", "restriction", "objection", "portability")
OWNER = "0055g00000AbCdEAAV"


def _b(expr: pl.Expr) -> pl.Expr:
    """Salesforce boolean text."""
    return pl.when(expr).then(pl.lit("true")).otherwise(pl.lit("false"))


def _monthly(prefix: str, name: str, col: str, bom_odd: bool, gz_month: int | None = None) -> list[pl.Expr]:
    """`_file` / `_part` / `_sort` / `_bom` for an export partitioned by the month of `col`."""
    d = pl.from_epoch(pl.col(col), time_unit="s")
    gz = pl.lit(".csv") if gz_month is None else pl.when(d.dt.month() == gz_month).then(pl.lit(".csv.gz")).otherwise(pl.lit(".csv"))
    return [
        pl.concat_str([pl.lit(prefix), d.dt.strftime(f"%Y/%m/{name}_%Y-%m"), gz]).alias("_file"),
        d.dt.strftime("%Y").alias("_part"),
        pl.col(col).alias("_sort"),
        ((d.dt.month() % 2 == 1) if bom_odd else (d.dt.month() % 2 == 0)).alias("_bom"),
    ]


def contacts(rng: np.random.Generator, s: pl.DataFrame, last_contact: pl.Series, win: Window) -> pl.DataFrame:
    """Contact rows; an e-mail opt-out withdrawal appears as an earlier and a later version of the row."""
    n = s.height
    s = s.with_columns(
        last_contact=last_contact,
        lm_jitter=pl.Series(rng.integers(0, 40 * DAY, size=n)),
        salutation=pl.Series(np.array(["Mr.", "Ms.", "Mrs.", "Dr.", ""])[rng.integers(0, 5, size=n)]),
        dup=pl.Series(rng.random(n) < 0.02),
    )
    optout = pl.col("method") == 3
    last_act = pl.max_horizontal(pl.col("created"), pl.col("last_contact"))
    lm = pl.min_horizontal(pl.max_horizontal(last_act + pl.col("lm_jitter"), pl.col("t_w")), pl.lit(win.end - 3600))
    base = s.with_columns(lm=lm, opted=optout, last_act=last_act)
    earlier = base.filter(optout).with_columns(
        lm=pl.max_horizontal(pl.col("created"), pl.col("t_w") - pl.col("lm_jitter") - 30 * DAY), opted=pl.lit(False))
    # duplicate CRM records of the same person (same Individual), an older address, a former account
    dups = base.filter(pl.col("dup")).with_columns(
        crm_id=pl.col("crm_dup_id"), email_display=pl.concat_str([pl.col("email").str.replace("@.*$", ""),
                                                                  pl.lit("@oldmail.example")]),
        status=pl.lit("former"), lm=pl.col("created") + 5 * DAY, created=pl.col("created") - 400 * DAY,
        last_act=pl.col("created") - 30 * DAY, contract_end=pl.col("created") - 20 * DAY, opted=pl.lit(False))
    rows = pl.concat([base, earlier, dups], how="diagonal_relaxed")
    date = "%Y-%m-%d"
    return rows.select(
        pl.col("crm_id").alias("Id"),
        pl.concat_str([pl.lit("0015g"), pl.col("crm_id").str.slice(5)]).alias("AccountId"),
        pl.col("salutation").alias("Salutation"),
        pl.col("first").alias("FirstName"),
        pl.col("last").alias("LastName"),
        pl.when(pl.col("has_email")).then(pl.col("email_display")).alias("Email"),
        pl.when(pl.col("has_landline")).then(pl.col("landline_human")).alias("Phone"),
        pl.when(pl.col("has_mobile")).then(pl.col("mobile_human")).alias("MobilePhone"),
        pl.concat_str([pl.col("house").cast(pl.String), pl.lit(" "), pl.col("street")]).alias("MailingStreet"),
        pl.col("city").alias("MailingCity"),
        pl.col("postcode").alias("MailingPostalCode"),
        pl.col("country_field").alias("MailingCountry"),
        fmt.ts("birth", date).alias("Birthdate"),
        _b(pl.col("opted")).alias("HasOptedOutOfEmail"),
        _b(pl.col("dnc")).alias("DoNotCall"),
        pl.col("individual_id").alias("IndividualId"),
        pl.lit(OWNER).alias("OwnerId"),
        fmt.ts("created", fmt.SF_TS).alias("CreatedDate"),
        fmt.ts("lm", fmt.SF_TS).alias("LastModifiedDate"),
        fmt.ts("last_act", date).alias("LastActivityDate"),
        pl.col("status").alias("Customer_Status__c"),
        pl.when(pl.col("contract_end") != NULL_T).then(fmt.ts("contract_end", date)).alias("Contract_End_Date__c"),
        pl.lit("false").alias("IsDeleted"),
        pl.col("lm"),
    ).with_columns(_monthly("crm/contacts/", "Contact", "lm", bom_odd=True, gz_month=5)).drop("lm")


def individuals(rng: np.random.Generator, s: pl.DataFrame, dsr: pl.DataFrame, win: Window) -> pl.DataFrame:
    """Individual rows with privacy flags; an opt-out of solicitation appears as two versions."""
    n = s.height
    dsr_type = s.select(pl.int_range(pl.len()).alias("i")).join(dsr.select("i", "type", "received"), on="i", how="left")
    r = rng.random((n, 4))
    flags = pl.DataFrame({
        "processing": (r[:, 0] < 0.02) | (dsr_type["type"] == "restriction").fill_null(False).to_numpy(),
        "profiling": (r[:, 1] < 0.05) | (dsr_type["type"] == "objection").fill_null(False).to_numpy(),
        "forget": ((dsr_type["type"] == "erasure").fill_null(False).to_numpy() & (r[:, 2] < 0.5)),
        "send_data": ((dsr_type["type"] == "access").fill_null(False).to_numpy() & (r[:, 3] < 0.4)),
        "dsr_at": dsr_type["received"].fill_null(NULL_T),
    })
    base = pl.concat([s, flags], how="horizontal").with_columns(
        solicit=pl.col("method") == 5,
        lm=pl.min_horizontal(pl.max_horizontal("created", "t_w", "dsr_at") + 3600, pl.lit(win.end - 3600)),
    )
    earlier = base.filter(pl.col("method") == 5).with_columns(
        solicit=pl.lit(False), lm=pl.max_horizontal(pl.col("created"), pl.col("t_w") - 60 * DAY))
    rows = pl.concat([base, earlier], how="vertical")
    return rows.select(
        pl.col("individual_id").alias("Id"),
        pl.col("first").alias("FirstName"),
        pl.col("last").alias("LastName"),
        fmt.ts("birth", "%Y-%m-%d").alias("BirthDate"),
        _b(pl.col("processing")).alias("HasOptedOutProcessing"),
        _b(pl.col("profiling")).alias("HasOptedOutProfiling"),
        _b(pl.col("solicit")).alias("HasOptedOutSolicit"),
        _b(pl.lit(False)).alias("HasOptedOutTracking"),
        _b(pl.col("forget")).alias("ShouldForget"),
        _b(pl.col("send_data")).alias("SendIndividualData"),
        _b(pl.lit(True)).alias("CanStorePiiElsewhere"),
        pl.lit(OWNER).alias("OwnerId"),
        fmt.ts("created", fmt.SF_TS).alias("CreatedDate"),
        fmt.ts("lm", fmt.SF_TS).alias("LastModifiedDate"),
        pl.lit("false").alias("IsDeleted"),
        pl.col("lm"),
    ).with_columns(_monthly("crm/individuals/", "Individual", "lm", bom_odd=False, gz_month=11)).drop("lm")


def consents(rng: np.random.Generator, s: pl.DataFrame, purpose_ids: dict[str, str], tenant_no: int,
             win: Window, calls: pl.DataFrame | None = None) -> pl.DataFrame:
    """ContactPointTypeConsent rows: marketing e-mail, service e-mail, profiling, phone and post marketing.

    Phone marketing consent is verbal: given on the subject's latest recorded call (`calls`: the connect.contacts
    frame), captured as it ends, CaptureSource naming the call ("Call <ContactId>"). A subject with no recorded
    call has a verbal consent without a recording (recording_missing)."""
    n = s.height
    sid = s["sid"].to_numpy()
    cap = (s["created"].to_numpy() + rng.integers(0, 20 * DAY, size=n))
    refreshed = rng.random(n) < 0.2
    cap = np.where(refreshed, np.maximum(cap, win.start + (rng.random(n) * (win.end - win.start - DAY)).astype(np.int64)), cap)
    cap = np.minimum(cap, win.end - DAY)
    base = pl.DataFrame({"i": np.arange(n), "sid": sid, "cap": cap,
                         "source": np.asarray(CAPTURE_SOURCES)[rng.integers(0, len(CAPTURE_SOURCES), size=n)],
                         "notice": np.asarray(NOTICE_VERSIONS)[np.minimum(
                             ((cap - win.start + 1500 * DAY) // (400 * DAY)).clip(0), len(NOTICE_VERSIONS) - 1)],
                         "no_notice": rng.random(n) < 0.08, "no_capture": rng.random(n) < 0.05,
                         "double": rng.random(n) < 0.6})
    s2 = pl.concat([s.select("individual_id", "consent", "consent_method", "method", "t_w", "status", "profiling_ok",
                             "phone_ok", "dnc", "has_email"), base], how="horizontal")
    # k: 0 email/marketing, 1 email/service, 2 email/profiling, 3 phone/marketing, 4 mailing address/marketing
    mk = s2.filter(pl.col("consent") != "none").with_columns(
        k=pl.lit(0), cpt=pl.lit("Email"), purpose=pl.lit("marketing"), status_=pl.col("consent"),
        cm=pl.when(pl.col("consent") == "OptIn").then(pl.col("consent_method")))
    svc = s2.filter(pl.col("status") != "prospect").with_columns(
        k=pl.lit(1), cpt=pl.lit("Email"), purpose=pl.lit("service"), status_=pl.lit("OptIn"), cm=pl.lit("implied"))
    prof = s2.filter(pl.col("has_email")).with_columns(
        k=pl.lit(2), cpt=pl.lit("Email"), purpose=pl.lit("profiling"),
        status_=pl.when(pl.col("profiling_ok")).then(pl.lit("OptIn")).otherwise(pl.lit("NotSeen")),
        cm=pl.when(pl.col("profiling_ok")).then(pl.col("consent_method")))
    phone = s2.filter(pl.col("phone_ok") | pl.col("dnc")).with_columns(
        k=pl.lit(3), cpt=pl.lit("Phone"), purpose=pl.lit("marketing"),
        status_=pl.when(pl.col("dnc") & (pl.col("sid") % 10 < 7)).then(pl.lit("OptOut")).otherwise(pl.lit("OptIn")),
        cm=pl.lit("verbal_recorded"))
    if calls is not None:
        on_call = (calls.filter(pl.col("recorded") & (pl.col("channel") == "VOICE") & ~pl.col("unknown_caller"))
                   .sort("end").group_by("i").agg(pl.col("end").last().alias("call_end"),
                                                   pl.col("contact_id").last().alias("call_id")))
        phone = phone.join(on_call, on="i", how="left").with_columns(
            cap=pl.when(pl.col("call_id").is_not_null())
            .then(pl.min_horizontal(pl.col("call_end") + 60, pl.lit(win.end - 300))).otherwise(pl.col("cap")),
            source=pl.when(pl.col("call_id").is_not_null())
            .then(pl.concat_str([pl.lit("Call "), pl.col("call_id")])).otherwise(pl.col("source")),
        ).drop("call_end", "call_id")
    post = s2.filter(pl.col("sid") % 7 == 3).with_columns(
        k=pl.lit(4), cpt=pl.lit("MailingAddress"), purpose=pl.lit("marketing"), status_=pl.lit("OptIn"),
        cm=pl.lit("explicit_opt_in"))
    rows = pl.concat([mk, svc, prof, phone, post], how="vertical_relaxed").with_columns(
        lm=pl.col("cap") + 60, eff_to=pl.lit(None, dtype=pl.Int64))
    # CRM withdrawals: the marketing consent is re-exported as OptOut at the withdrawal instant
    withdrawn = rows.filter((pl.col("k") == 0) & pl.col("method").is_in([3, 4])).with_columns(
        status_=pl.lit("OptOut"), lm=pl.col("t_w"), eff_to=pl.col("t_w"))
    rows = pl.concat([rows, withdrawn], how="vertical")
    pid = pl.col("purpose").replace_strict(purpose_ids)
    seq = pl.col("sid") * 8 + pl.col("k")
    ids = fmt.sf_id("0ZY", tenant_no, rows.select(seq).to_series().to_numpy())
    cap_ts = fmt.ts("cap", fmt.SF_TS)
    return rows.with_columns(cid=ids).select(
        pl.col("cid").alias("Id"),
        pl.concat_str([pl.lit("CPTC-"), seq.cast(pl.String).str.zfill(9)]).alias("Name"),
        pl.col("individual_id").alias("PartyId"),
        pl.col("cpt").alias("ContactPointType"),
        pid.alias("DataUsePurposeId"),
        pl.col("status_").alias("PrivacyConsentStatus"),
        pl.when(~pl.col("no_capture")).then(cap_ts).alias("CaptureDate"),
        pl.col("cpt").alias("CaptureContactPointType"),
        pl.col("source").alias("CaptureSource"),
        pl.when(pl.col("double") & (pl.col("cm") == "explicit_opt_in") & (pl.col("cpt") == "Email"))
        .then(fmt.ts(pl.col("cap") + 900, fmt.SF_TS)).alias("DoubleConsentCaptureDate"),
        cap_ts.alias("EffectiveFrom"),
        pl.when(pl.col("eff_to").is_not_null()).then(fmt.ts("eff_to", fmt.SF_TS)).alias("EffectiveTo"),
        cap_ts.alias("CreatedDate"),
        fmt.ts("lm", fmt.SF_TS).alias("LastModifiedDate"),
        pl.col("cm").alias("Capture_Method__c"),
        pl.when(~pl.col("no_notice")).then(pl.col("notice")).alias("Notice_Version__c"),
        pl.lit("false").alias("IsDeleted"),
        pl.col("lm"),
    ).with_columns(_monthly("crm/consents/", "ContactPointTypeConsent", "lm", bom_odd=True)).drop("lm")


def dsr_requests(rng: np.random.Generator, s: pl.DataFrame, tenant_code: str, win: Window, force_all: bool) -> pl.DataFrame:
    """Data-subject requests of every type; identified by CRM id, e-mail or phone; some never verified."""
    n = s.height
    p = np.where(s["status"].to_numpy() == "former", 0.025, 0.009)
    pick = rng.random(n) < p
    if force_all:
        pick[: min(len(DSR_TYPES) * 2, n)] = True
    i = np.flatnonzero(pick)
    k = len(i)
    types = np.asarray(DSR_TYPES)[rng.choice(6, size=k, p=[0.38, 0.25, 0.1, 0.08, 0.11, 0.08])]
    if force_all:
        types[: min(6, k)] = DSR_TYPES[: min(6, k)]
    lo = np.maximum(s["created"].to_numpy()[i], win.start)
    received = lo + (rng.random(k) * np.maximum(win.end - DAY - lo, DAY)).astype(np.int64)
    if force_all and k > 6:
        received[6] = win.end - 3 * DAY  # a fresh one, still inside its deadline
        received[7:8] = win.end - 200 * DAY  # an old one, long overdue unless handled
    verified = np.where(rng.random(k) < 0.7, received + rng.integers(3600, 12 * DAY, size=k), NULL_T)
    verified = np.where(verified >= win.end, NULL_T, verified)
    how = rng.choice(3, size=k, p=[0.55, 0.27, 0.18])
    detail_ix = rng.integers(0, 3, size=k)
    details = np.array([DSR_DETAILS[t][j % len(DSR_DETAILS[t])] for t, j in zip(types, detail_ix, strict=True)])
    d = pl.DataFrame({"i": i, "type": types, "received": received, "verified": verified, "how": how,
                      "details": details, "n": np.arange(k)})
    d = d.join(s.select(pl.int_range(pl.len()).alias("i"), "crm_id", "email_display", "mobile_intl", "has_email",
                        "sid"), on="i", how="left")
    return d.with_columns(
        request_id=pl.concat_str([pl.lit(f"DSR-{tenant_code}-"), pl.col("sid").cast(pl.String).str.zfill(7)]),
        crm_contact_id=pl.when(pl.col("how") == 0).then(pl.col("crm_id")),
        subject_email=pl.when((pl.col("how") <= 1) & pl.col("has_email")).then(pl.col("email_display")),
        subject_phone=pl.when((pl.col("how") == 2) | ~pl.col("has_email")).then(pl.col("mobile_intl")),
    )


def render_dsr(d: pl.DataFrame) -> pl.DataFrame:
    """DSR CSV rows in the Lethe format, one file per month received."""
    return d.select(
        "request_id", fmt.ts("received").alias("received_at"), "type", "crm_contact_id", "subject_email",
        "subject_phone", pl.when(pl.col("verified") != NULL_T).then(fmt.ts("verified")).alias("verified_at"),
        "details", pl.col("received"),
    ).with_columns(_monthly("crm/dsr_requests/", "dsr_requests", "received", bom_odd=False)).drop("received")


def legal_holds(rng: np.random.Generator, s: pl.DataFrame, dsr: pl.DataFrame, tenant_code: str, win: Window,
                force: bool) -> pl.DataFrame:
    """Legal holds, open and closed; more likely for erasure requesters and long-gone customers."""
    n = s.height
    erasure = s.select(pl.int_range(pl.len()).alias("i")).join(
        dsr.filter(pl.col("type") == "erasure").select("i", pl.lit(True).alias("er")), on="i", how="left")["er"]
    old = (s["status"].to_numpy() == "former") & (s["contract_end"].to_numpy() < win.start)
    p = np.where(erasure.fill_null(False).to_numpy(), 0.25, np.where(old, 0.02, 0.003))
    pick = rng.random(n) < p
    if force:
        pick[: min(2, n)] = True
    i = np.flatnonzero(pick)
    k = len(i)
    start = win.start - 200 * DAY + (rng.random(k) * (win.end - win.start + 195 * DAY)).astype(np.int64)
    end = start + rng.integers(30, 300, size=k) * DAY
    closed = (rng.random(k) < 0.45) & (end < win.end)
    if force and k >= 2:
        start[:2] = [win.end - 400 * DAY, win.end - 300 * DAY]
        closed[:2] = [False, True]
        end[1] = win.end - 100 * DAY
    h = pl.DataFrame({"i": i, "start": start, "end": np.where(closed, end, NULL_T),
                      "reason": np.asarray(HOLD_REASONS)[rng.integers(0, len(HOLD_REASONS), size=k)],
                      "by_email_only": rng.random(k) < 0.2})
    h = h.join(s.select(pl.int_range(pl.len()).alias("i"), "crm_id", "email_display", "sid", "has_email"),
               on="i", how="left")
    return h.select(
        pl.concat_str([pl.lit(f"LH-{tenant_code}-"), pl.col("sid").cast(pl.String).str.zfill(7)]).alias("hold_id"),
        pl.when(~pl.col("by_email_only") | ~pl.col("has_email")).then(pl.col("crm_id")).alias("crm_contact_id"),
        pl.when(pl.col("has_email")).then(pl.col("email_display")).alias("subject_email"),
        "reason",
        fmt.ts("start", "%Y-%m-%d").alias("start_date"),
        pl.when(pl.col("end") != NULL_T).then(fmt.ts("end", "%Y-%m-%d")).alias("end_date"),
        pl.col("start"),
    ).with_columns(
        _file=pl.concat_str([pl.lit("crm/legal_holds/"), pl.from_epoch("start", time_unit="s").dt.strftime("%Y/legal_holds_%Y"),
                             pl.lit(".csv")]),
        _part=pl.lit("all"), _sort=pl.col("start"), _bom=pl.lit(True),
    ).drop("start")
