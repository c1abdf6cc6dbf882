"""Amazon Connect contact records (CTR), chat transcripts and call recordings for one subject chunk."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import polars as pl

from lethe.synth import fmt
from lethe.synth.spool import write_bytes
from lethe.synth.subjects import Window
from lethe.synth.vocab import INTENTS, LANGUAGE, QUEUES

DAY = fmt.DAY
CHANNELS = np.array(["VOICE", "CHAT", "EMAIL", "TASK"])
CHANNEL_P = [0.76, 0.08, 0.11, 0.05]
RECENT_RECORDING_DAYS = 150


def contacts(rng: np.random.Generator, subj: pl.DataFrame, win: Window, agents: list[str]) -> pl.DataFrame:
    """One row per contact: subject index, channel, method, timestamps, endpoint, agent, queue, recording flag."""
    g = {c: subj[c].to_numpy() for c in ("status", "live_from", "contact_until", "t_o", "t_w", "withdraws", "dnc")}
    n = subj.height
    base = np.select([g["status"] == "active", g["status"] == "former"], [2.5, 1.6], 0.6)
    rate = rng.gamma(1.5, base / 1.5)  # contacts per year, heterogeneous
    dur = np.maximum(g["contact_until"] - g["live_from"], 0)
    counts = rng.poisson(rate * dur / (365 * DAY))
    i = np.repeat(np.arange(n), counts)
    day0 = g["live_from"][i] + (rng.random(len(i)) * dur[i]).astype(np.int64)
    complaint = np.zeros(len(i), bool)
    # complaints during the fatigue phase before a withdrawal
    m = g["withdraws"] & (rng.random(n) < 0.35)
    ci = np.flatnonzero(m)
    ct = g["t_o"][ci] + (rng.random(len(ci)) * (g["t_w"][ci] + 3 * DAY - g["t_o"][ci])).astype(np.int64)
    ct = np.minimum(ct, win.end - DAY)
    i = np.concatenate([i, ci])
    day0 = np.concatenate([day0, ct])
    complaint = np.concatenate([complaint, np.ones(len(ci), bool)])
    k = len(i)
    # business hours: start of the day plus 8h..19h
    start = (day0 // DAY) * DAY + (8 * 3600 + rng.beta(2, 2.5, k) * 11 * 3600).astype(np.int64)
    channel = CHANNELS[rng.choice(4, size=k, p=CHANNEL_P)]
    channel = np.where(complaint & (channel == "TASK"), "VOICE", channel)
    r = rng.random(k)
    method = np.select(
        [channel == "CHAT", channel == "TASK", channel == "EMAIL", r < 0.68, r < 0.88, r < 0.93],
        ["API", "API", "INBOUND", "INBOUND", "OUTBOUND", "CALLBACK"], "TRANSFER")
    # outbound calls reach DoNotCall subjects too, at a lower rate: violations to detect
    dnc = g["dnc"][i]
    method = np.where((method == "OUTBOUND") & dnc & (rng.random(k) < 0.5), "INBOUND", method)
    talk = np.select([channel == "VOICE", channel == "CHAT", channel == "EMAIL"],
                     [rng.lognormal(5.7, 0.7, k), rng.lognormal(6.5, 0.5, k), rng.lognormal(5.0, 0.6, k)],
                     rng.lognormal(4.5, 0.5, k)).astype(np.int64) + 20
    wait = rng.exponential(90, k).astype(np.int64)
    abandoned = (channel == "VOICE") & (method == "INBOUND") & (rng.random(k) < 0.05)
    end = start + wait + np.where(abandoned, 0, talk)
    end = np.minimum(end, win.end - 60)
    start = np.minimum(start, end - 30)
    last_update = np.minimum(end + rng.integers(60, 900, size=k), win.end - 1)
    age = win.end - end
    rec_p = np.where(age < RECENT_RECORDING_DAYS * DAY, 0.10, 0.006)
    recorded = (channel == "VOICE") & ~abandoned & (rng.random(k) < rec_p)
    unknown_caller = (channel == "VOICE") & (method == "INBOUND") & (rng.random(k) < 0.06)
    use_landline = rng.random(k) < 0.35
    queue = np.where(complaint, "Complaints", np.asarray(QUEUES)[rng.integers(0, len(QUEUES), size=k)])
    queue = np.where(method == "OUTBOUND", "Outbound campaigns", queue)
    intent = np.where(complaint, "complaint", np.asarray(INTENTS)[rng.integers(0, len(INTENTS), size=k)])
    return pl.DataFrame({
        "i": i, "contact_id": fmt.uuid_like(rng, k), "channel": channel, "method": method, "start": start,
        "wait": wait, "end": end, "last_update": last_update, "abandoned": abandoned, "recorded": recorded,
        "unknown_caller": unknown_caller, "use_landline": use_landline, "queue": queue, "intent": intent,
        "agent": np.asarray(agents)[rng.integers(0, len(agents), size=k)],
        "crm_attr": rng.random(k) < 0.7, "redelivered": rng.random(k) < 0.03,
        "stranger": fmt.phone_numbers(rng, np.full(k, "GB"), mobile=True).select(
            pl.concat_str([pl.lit("+"), "cc", "nsn"])).to_series(),
    }).sort("start", maintain_order=True)


def render_ctr(c: pl.DataFrame, subj: pl.DataFrame, tenant_no: int, tenant_code: str, end: int) -> pl.DataFrame:
    """CTR JSON lines (`_file`, `_part`, `_sort`, `_line`), each re-delivery in a later day's file (before `end`)."""
    people = subj.select(pl.int_range(pl.len()).alias("i"), "email", "mobile_e164", "landline_e164", "country",
                         pl.col("sid"), pl.col("crm_id"))
    d = c.join(people, on="i", how="left")
    acct = f"{470000000000 + tenant_no * 1117:012d}"
    inst = f"arn:aws:connect:eu-west-2:{acct}:instance/{tenant_code.lower()}-0f3c9a"
    ts = fmt.ts
    voice = pl.col("channel") == "VOICE"
    address = (pl.when(voice & pl.col("unknown_caller")).then(pl.col("stranger"))
               .when(voice & pl.col("use_landline")).then(pl.col("landline_e164"))
               .when(voice).then(pl.col("mobile_e164"))
               .when(pl.col("channel").is_in(["CHAT", "EMAIL"])).then(pl.col("email")))
    endpoint = pl.when(address.is_not_null()).then(pl.struct(
        address.alias("Address"),
        pl.when(voice).then(pl.lit("TELEPHONE_NUMBER")).otherwise(pl.lit("EMAIL_ADDRESS")).alias("Type")))
    connected = pl.col("start") + 2 + pl.col("wait")
    agent = pl.when(~pl.col("abandoned")).then(pl.struct(
        pl.lit(f"{inst}/agent/").add(pl.col("agent")).alias("ARN"),
        (pl.col("end") - connected).alias("AgentInteractionDuration"),
        ts(connected).alias("ConnectedToAgentTimestamp"),
        pl.lit(0).alias("CustomerHoldDuration"),
        pl.lit(None, dtype=pl.String).alias("HierarchyGroups"),
        pl.lit(0).alias("NumberOfHolds"),
        pl.struct(pl.lit(f"{inst}/routing-profile/default").alias("ARN"), pl.lit("Default").alias("Name")).alias("RoutingProfile"),
        pl.col("agent").alias("Username"),
    ))
    queue = pl.when(pl.col("channel") != "TASK").then(pl.struct(
        pl.lit(f"{inst}/queue/").add(pl.col("queue").str.to_lowercase().str.replace_all(" ", "-")).alias("ARN"),
        ts(pl.col("start") + 2).alias("EnqueueTimestamp"),
        ts(connected).alias("DequeueTimestamp"),
        pl.col("wait").alias("Duration"),
        pl.col("queue").alias("Name"),
    ))
    recording = pl.when(pl.col("recorded")).then(pl.struct(
        pl.lit(None, dtype=pl.String).alias("DeletionReason"),
        recording_path().alias("Location"),
        pl.lit("AVAILABLE").alias("Status"),
        pl.lit("AUDIO").alias("Type"),
    ))
    body = pl.struct(
        pl.lit(acct).alias("AWSAccountId"),
        pl.lit("2017-03-10").alias("AWSContactTraceRecordFormatVersion"),
        agent.alias("Agent"),
        pl.when(pl.col("abandoned")).then(0).otherwise(1).alias("AgentConnectionAttempts"),
        pl.col("channel").alias("Channel"),
        ts(pl.col("start") + 2).alias("ConnectedToSystemTimestamp"),
        pl.col("contact_id").alias("ContactId"),
        endpoint.alias("CustomerEndpoint"),
        pl.when(pl.col("abandoned")).then(pl.lit("CUSTOMER_DISCONNECT")).otherwise(pl.lit("AGENT_DISCONNECT")).alias("DisconnectReason"),
        ts("end").alias("DisconnectTimestamp"),
        pl.col("contact_id").alias("InitialContactId"),
        pl.col("method").alias("InitiationMethod"),
        ts("start").alias("InitiationTimestamp"),
        pl.lit(inst).alias("InstanceARN"),
        ts("lu").alias("LastUpdateTimestamp"),
        pl.lit(None, dtype=pl.String).alias("NextContactId"),
        pl.lit(None, dtype=pl.String).alias("PreviousContactId"),
        queue.alias("Queue"),
        recording.alias("Recording"),
        pl.struct(pl.lit("+442079460000").alias("Address"), pl.lit("TELEPHONE_NUMBER").alias("Type")).alias("SystemEndpoint"),
        pl.lit(None, dtype=pl.String).alias("TransferCompletedTimestamp"),
    ).struct.json_encode()

    def attr(key: str, value: pl.Expr) -> pl.Expr:
        return pl.when(value.is_not_null()).then(pl.concat_str([pl.lit(f'"{key}":"'), value, pl.lit('"')]))

    attributes = pl.concat_str([
        pl.lit("{"),
        pl.concat_str([
            attr("intent", pl.col("intent")),
            attr("language", pl.col("country").replace_strict(LANGUAGE, default="en-GB")),
            attr("crmContactId", pl.when(pl.col("crm_attr") & ~pl.col("unknown_caller")).then(pl.col("crm_id"))),
            attr("campaignId", pl.when(pl.col("method") == "OUTBOUND").then(pl.concat_str(
                [pl.lit(f"{tenant_code}-"), pl.from_epoch("start", time_unit="s").dt.strftime("%Y%m"), pl.lit("-CALLS")]))),
            attr("wrapUpCode", pl.when(pl.col("second")).then(pl.lit("resolved_first_contact"))),
        ], separator=",", ignore_nulls=True),
        pl.lit("}"),
    ])
    first = d.with_columns(lu=pl.col("last_update"), second=pl.lit(False))
    again = d.filter(pl.col("redelivered")).with_columns(
        lu=pl.col("last_update") + DAY + (pl.col("wait") * 97) % (2 * DAY), second=pl.lit(True))
    both = pl.concat([first, again], how="vertical").filter(pl.col("lu") < end)
    line = pl.concat_str([pl.lit('{"Attributes":'), attributes, pl.lit(","), body.str.slice(1)])
    day = pl.from_epoch(pl.col("lu"), time_unit="s")
    gz = pl.when(day.dt.day().is_in([7, 21])).then(pl.lit(".jsonl.gz")).otherwise(pl.lit(".jsonl"))
    return both.select(
        pl.concat_str([pl.lit("contact_records/"), day.dt.strftime("%Y/%m/%Y-%m-%d"), gz]).alias("_file"),
        day.dt.strftime("%Y-%m").alias("_part"),
        pl.col("lu").alias("_sort"),
        line.alias("_line"),
    )


def recording_path() -> pl.Expr:
    """Recording.Location relative to the tenant folder."""
    return pl.concat_str([pl.lit("recordings/"), pl.from_epoch("start", time_unit="s").dt.strftime("%Y/%m/%d/"),
                          pl.col("contact_id"), pl.from_epoch("start", time_unit="s").dt.strftime("_%Y%m%dT%H%M_UTC.wav")])


def write_recordings(rng: np.random.Generator, c: pl.DataFrame, tenant_dir: Path) -> int:
    """Tiny valid WAV files (0.2 s, 8 kHz, mono, 8-bit) for recorded calls; returns how many."""
    rec = c.filter(pl.col("recorded")).select(recording_path().alias("path"))
    k = rec.height
    if not k:
        return 0
    t = np.arange(1600) / 8000.0
    freq = rng.uniform(180, 420, size=(k, 1))
    pcm = 128 + 50 * np.sin(2 * np.pi * freq * t) + rng.normal(0, 6, size=(k, 1600))
    pcm = np.clip(pcm, 0, 255).astype(np.uint8)
    for path, samples in zip(rec["path"].to_list(), pcm, strict=True):
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(1)
            w.setframerate(8000)
            w.writeframes(samples.tobytes())
        target = tenant_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(buf.getvalue())
    return k


# Chat script lines: (role, text before, personal value, text after, probability the line occurs).
SCRIPT = (
    ("SYSTEM", "Thanks for contacting {brand}. An agent will be with you shortly.", None, "", 1.0),
    ("AGENT", "Hi, you're chatting with {agent}. Can I take your full name please?", None, "", 1.0),
    ("CUSTOMER", "Hi, it's ", "name", "", 0.95),
    ("AGENT", "Thanks. And the best phone number to reach you on?", None, "", 0.8),
    ("CUSTOMER", "it's ", "phone", " (my mobile)", 0.75),
    ("AGENT", "Could you confirm the email address on the account?", None, "", 0.6),
    ("CUSTOMER", "", "email", "", 0.55),
    ("AGENT", "How can I help today?", None, "", 1.0),
    ("CUSTOMER", "", "intent", "", 1.0),
    ("CUSTOMER", "can I just pay it now? card is ", "card", " exp 09/28", 0.25),
    ("AGENT", "Please don't share card details in chat - I've masked them. I'll send you a secure payment link.",
     None, "", 0.25),
    ("CUSTOMER", "my date of birth is ", "dob", " if you need it", 0.2),
    ("CUSTOMER", "we've moved, new address is ", "address", "", 0.15),
    ("AGENT", "That's all sorted for you now. Is there anything else I can help with?", None, "", 1.0),
    ("CUSTOMER", "no that's everything, thanks", None, "", 0.9),
    ("SYSTEM", "The chat has ended.", None, "", 1.0),
)
INTENT_TEXT = {
    "billing": "my last bill looks far too high, can you check it?",
    "payment": "I want to set up a direct debit",
    "moving_home": "I'm moving house next month and need to move my account",
    "tariff_change": "is there a cheaper plan I could switch to?",
    "fault": "my service has been down since yesterday",
    "cancel": "I'd like to cancel my contract please",
    "complaint": "I keep getting marketing emails and calls, this is the third time I'm asking you to stop",
}


def write_transcripts(rng: np.random.Generator, c: pl.DataFrame, subj: pl.DataFrame, tenant_dir: Path,
                      brand: str, acct: str, end: int) -> int:
    """One Connect chat transcript JSON per chat contact; the customer's lines carry personal data."""
    chats = c.filter(pl.col("channel") == "CHAT").join(
        subj.select(pl.int_range(pl.len()).alias("i"), "first", "last", "email_display", "mobile_human",
                    "house", "street", "city", "postcode", "birth"), on="i", how="left")
    k = chats.height
    if not k:
        return 0
    n_lines = len(SCRIPT)
    include = rng.random((k, n_lines)) < np.array([s[4] for s in SCRIPT])
    chat_ix, line_ix = np.nonzero(include)
    gaps = rng.integers(4, 75, size=len(chat_ix))
    cards = fmt.card_numbers(rng, len(chat_ix))
    m = pl.DataFrame({"c": chat_ix, "l": line_ix, "gap": gaps, "card": cards}).join(
        chats.with_row_index("c").with_columns(pl.col("c").cast(pl.Int64)), on="c", how="left")
    script = pl.DataFrame({
        "l": np.arange(n_lines), "role": [s[0] for s in SCRIPT], "pre": [s[1] for s in SCRIPT],
        "field": [s[2] or "" for s in SCRIPT], "post": [s[3] for s in SCRIPT]})
    m = m.join(script, on="l", how="left").sort(["c", "l"])
    agent_first = pl.col("agent").str.split(".").list.first().str.to_titlecase()
    value = (pl.when(pl.col("field") == "name").then(pl.concat_str(["first", "last"], separator=" "))
             .when(pl.col("field") == "phone").then(pl.col("mobile_human"))
             .when(pl.col("field") == "email").then(pl.col("email_display"))
             .when(pl.col("field") == "intent").then(pl.col("intent").replace_strict(INTENT_TEXT))
             .when(pl.col("field") == "card").then(pl.col("card"))
             .when(pl.col("field") == "dob").then(pl.from_epoch("birth", time_unit="s").dt.strftime("%d/%m/%Y"))
             .when(pl.col("field") == "address").then(pl.concat_str(
                 [pl.col("house").cast(pl.String), pl.lit(" "), "street", pl.lit(", "), "city", pl.lit(" "), "postcode"]))
             .otherwise(pl.lit("")))
    content = pl.concat_str([pl.col("pre").str.replace("{brand}", brand, literal=True)
                             .str.replace("{agent}", "", literal=True), value, "post"])
    content = pl.when(pl.col("pre").str.contains("{agent}", literal=True)).then(
        pl.concat_str([pl.lit("Hi, you're chatting with "), agent_first,
                       pl.lit(". Can I take your full name please?")])).otherwise(content)
    m = m.with_columns(at=pl.min_horizontal(pl.col("start") + pl.col("wait") + pl.col("gap").cum_sum().over("c"),
                                            pl.lit(end - 1)))
    msg = pl.struct(
        fmt.ts("at").alias("AbsoluteTime"),
        content.alias("Content"),
        pl.lit("text/plain").alias("ContentType"),
        pl.concat_str([pl.col("contact_id").str.slice(0, 8), pl.lit("-m"), pl.col("l").cast(pl.String)]).alias("Id"),
        pl.lit("MESSAGE").alias("Type"),
        pl.col("role").alias("ParticipantId"),
        pl.when(pl.col("role") == "CUSTOMER").then(pl.lit("Customer"))
        .when(pl.col("role") == "AGENT").then(agent_first).otherwise(pl.lit("SYSTEM_MESSAGE")).alias("DisplayName"),
        pl.col("role").alias("ParticipantRole"),
    ).struct.json_encode()
    docs = m.group_by("c", maintain_order=True).agg(
        pl.col("contact_id").first(), pl.col("start").first(), msg.str.join(",").alias("msgs"))
    docs = docs.with_columns(
        path=pl.concat_str([pl.lit("transcripts/"), pl.from_epoch("start", time_unit="s").dt.strftime("%Y/%m/%d/"),
                            pl.col("contact_id"), pl.from_epoch("start", time_unit="s").dt.strftime("_%Y%m%dT%H%M_UTC"),
                            pl.when(pl.col("c") % 20 == 7).then(pl.lit(".json.gz")).otherwise(pl.lit(".json"))]),
        doc=pl.concat_str([pl.lit(f'{{"Version":"2019-08-26","AWSAccountId":"{acct}","InstanceId":"{acct[-6:]}-inst",'
                                  '"InitialContactId":"'), pl.col("contact_id"), pl.lit('","ContactId":"'),
                           pl.col("contact_id"), pl.lit('","Participants":[{"ParticipantId":"CUSTOMER"},'
                                                        '{"ParticipantId":"AGENT"}],"Transcript":['),
                           pl.col("msgs"), pl.lit("]}\n")]),
    )
    for path, doc in zip(docs["path"].to_list(), docs["doc"].to_list(), strict=True):
        write_bytes(tenant_dir / path, doc.encode("utf-8"))
    return docs.height
