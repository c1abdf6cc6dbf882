-- The consent ledger: one row per status interval [valid_from, valid_to) per subject, purpose and channel.
-- A current CRM opt-out flag ends the ledger (nothing after it can re-grant); a SendGrid
-- group_resubscribe re-instates the latest Salesforce opt-in, but only after a group_unsubscribe of its group,
-- while no other group carrying the purpose stays unsubscribed, and when nothing but group unsubscribes withdrew
-- that opt-in since. A Seen or NotSeen record (crm_not_given) records no choice: after an earlier event it
-- changes nothing (an opt-in stands), and only a subject's first word can be 'not given'.
{#- Incremental on DuckDB: a subject's ledger rows are a function of their consent events alone, so a build
    recomputes the subjects whose events changed since the last one (int_consent_subject_digests) and keeps the
    others: see macros/subject_refresh.sql. The pre-hook deletes, in the same transaction, the rows this build
    recomputes. A purge's rebuild runs with --full-refresh. On Spark it is a plain table. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=(["{{ delete_changed_subjects(ref('int_consent_events_unioned'), 'int_consent_subject_digests') }}"]
              if target.type == 'duckdb' else []),
) }}
{%- set changed = changed_subjects(ref('int_consent_events_unioned'), 'int_consent_subject_digests') %}

with

events as (
    select * from {{ ref('int_consent_events_unioned') }}
    {%- if changed is not none %}
    -- an incremental build: the subjects whose consent events changed (the pre-hook deleted their rows)
    where (tenant_id, subject_key) in (select tenant_id, subject_key from ({{ changed }}))
    {%- endif %}
),

first_flag as (
    select
        tenant_id,
        subject_key,
        purpose_id,
        channel,
        min(event_at) as flagged_at
    from events
    where is_sticky
    group by tenant_id, subject_key, purpose_id, channel
),

effective_events as (
    select events.*
    from events
    left join first_flag
        on first_flag.tenant_id = events.tenant_id
        and first_flag.subject_key = events.subject_key
        and first_flag.purpose_id = events.purpose_id
        and first_flag.channel = events.channel
    where first_flag.flagged_at is null
        or events.event_at < first_flag.flagged_at
        or (events.is_sticky and events.event_at = first_flag.flagged_at)
),

ordered as (
    select
        effective_events.*,
        lag(event_type) over (
            partition by tenant_id, subject_key, purpose_id, channel
            order by event_at, case consent_status when 'withdrawn' then 2 when 'granted' then 1 else 0 end, source_id
        ) as previous_event_type,
        lag(asm_group_id) over (
            partition by tenant_id, subject_key, purpose_id, channel
            order by event_at, case consent_status when 'withdrawn' then 2 when 'granted' then 1 else 0 end, source_id
        ) as previous_asm_group_id
    from effective_events
),

opt_ins as (
    select * from ordered where event_type = 'crm_opt_in'
),

group_unsubscribes as (
    select * from ordered where event_type = 'sendgrid_group_unsubscribe'
),

hard_withdrawals as (
    -- withdrawals a group_resubscribe cannot lift: a CRM OptOut, a global unsubscribe, a spam report
    select * from ordered where consent_status = 'withdrawn' and event_type <> 'sendgrid_group_unsubscribe'
),

group_lifts as (
    -- what ends a group_unsubscribe: a resubscribe to its group, or a new CRM opt-in
    select * from ordered where event_type in ('sendgrid_group_resubscribe', 'crm_opt_in')
),

still_unsubscribed as (
    -- resubscribes made while ANOTHER group carrying the purpose stays unsubscribed (nothing lifted it since)
    select
        resubscribe.tenant_id,
        resubscribe.subject_key,
        resubscribe.purpose_id,
        resubscribe.channel,
        resubscribe.source_id,
        other.source_id as unsubscribe_id,
        max(case when lift.source_id is not null then 1 else 0 end) as is_lifted
    from ordered as resubscribe
    inner join group_unsubscribes as other
        on other.tenant_id = resubscribe.tenant_id
        and other.subject_key = resubscribe.subject_key
        and other.purpose_id = resubscribe.purpose_id
        and other.channel = resubscribe.channel
        and coalesce(other.asm_group_id, -1) <> coalesce(resubscribe.asm_group_id, -1)
        and other.event_at <= resubscribe.event_at
    left join group_lifts as lift
        on lift.tenant_id = other.tenant_id
        and lift.subject_key = other.subject_key
        and lift.purpose_id = other.purpose_id
        and lift.channel = other.channel
        and lift.event_at > other.event_at
        and lift.event_at <= resubscribe.event_at
        and lift.source_id <> resubscribe.source_id
        and (lift.event_type = 'crm_opt_in' or coalesce(lift.asm_group_id, -1) = coalesce(other.asm_group_id, -1))
    where resubscribe.event_type = 'sendgrid_group_resubscribe'
    group by
        resubscribe.tenant_id, resubscribe.subject_key, resubscribe.purpose_id, resubscribe.channel,
        resubscribe.source_id, other.source_id
),

resubscribes as (
    -- group_resubscribe lifts a group_unsubscribe; it cannot undo a global unsubscribe, spam report or CRM opt-out,
    -- nor re-grant while another group carrying the purpose stays unsubscribed.
    select * from ordered
    where event_type = 'sendgrid_group_resubscribe'
        and (
            previous_event_type in ('sendgrid_group_resubscribe', 'crm_opt_in')
            or (
                previous_event_type = 'sendgrid_group_unsubscribe'
                and coalesce(previous_asm_group_id, -1) = coalesce(asm_group_id, -1)
            )
        )
        and not exists (
            select 1 from still_unsubscribed
            where still_unsubscribed.tenant_id = ordered.tenant_id
                and still_unsubscribed.subject_key = ordered.subject_key
                and still_unsubscribed.purpose_id = ordered.purpose_id
                and still_unsubscribed.channel = ordered.channel
                and still_unsubscribed.source_id = ordered.source_id
                and still_unsubscribed.is_lifted = 0
        )
),

resubscribe_evidence as (
    select
        resubscribes.tenant_id,
        resubscribes.subject_key,
        resubscribes.purpose_id,
        resubscribes.purpose_name,
        resubscribes.is_marketing,
        resubscribes.channel,
        resubscribes.event_at,
        resubscribes.event_type,
        resubscribes.consent_status,
        resubscribes.is_sticky,
        resubscribes.source_system,
        resubscribes.source_id,
        resubscribes.asm_group_id,
        opt_ins.consent_id,
        opt_ins.capture_method,
        opt_ins.capture_date,
        opt_ins.capture_source,
        opt_ins.notice_version,
        opt_ins.effective_from,
        opt_ins.effective_to,
        opt_ins.recording_referenced,
        opt_ins.recording_present,
        opt_ins.event_at as opt_in_at,
        row_number() over (
            partition by resubscribes.tenant_id, resubscribes.subject_key, resubscribes.purpose_id,
                resubscribes.channel, resubscribes.source_id
            order by opt_ins.event_at desc, opt_ins.consent_id desc
        ) as opt_in_rank
    from resubscribes
    inner join opt_ins
        on opt_ins.tenant_id = resubscribes.tenant_id
        and opt_ins.subject_key = resubscribes.subject_key
        and opt_ins.purpose_id = resubscribes.purpose_id
        and opt_ins.channel = resubscribes.channel
        and opt_ins.event_at <= resubscribes.event_at
),

ledger_events as (
    select
        tenant_id, subject_key, purpose_id, purpose_name, is_marketing, channel, event_at, event_type,
        consent_status, is_sticky, source_system, source_id, asm_group_id, consent_id, capture_method,
        capture_date, capture_source, notice_version, effective_from, effective_to, recording_referenced,
        recording_present
    from ordered
    where event_type <> 'sendgrid_group_resubscribe'
        and not (event_type = 'crm_not_given' and previous_event_type is not null)
    union all
    select
        tenant_id, subject_key, purpose_id, purpose_name, is_marketing, channel, event_at, event_type,
        consent_status, is_sticky, source_system, source_id, asm_group_id, consent_id, capture_method,
        capture_date, capture_source, notice_version, effective_from, effective_to, recording_referenced,
        recording_present
    from resubscribe_evidence
    where opt_in_rank = 1
        -- the opt-in it re-instates was not withdrawn since but by group unsubscribes
        and not exists (
            select 1 from hard_withdrawals
            where hard_withdrawals.tenant_id = resubscribe_evidence.tenant_id
                and hard_withdrawals.subject_key = resubscribe_evidence.subject_key
                and hard_withdrawals.purpose_id = resubscribe_evidence.purpose_id
                and hard_withdrawals.channel = resubscribe_evidence.channel
                and hard_withdrawals.event_at >= resubscribe_evidence.opt_in_at
                and hard_withdrawals.event_at <= resubscribe_evidence.event_at
        )
),

sequenced as (
    select
        ledger_events.*,
        row_number() over (
            partition by tenant_id, subject_key, purpose_id, channel
            order by event_at, case consent_status when 'withdrawn' then 2 when 'granted' then 1 else 0 end, source_id
        ) as ledger_seq,
        lead(event_at) over (
            partition by tenant_id, subject_key, purpose_id, channel
            order by event_at, case consent_status when 'withdrawn' then 2 when 'granted' then 1 else 0 end, source_id
        ) as next_event_at,
        lag(consent_status) over (
            partition by tenant_id, subject_key, purpose_id, channel
            order by event_at, case consent_status when 'withdrawn' then 2 when 'granted' then 1 else 0 end, source_id
        ) as previous_status
    from ledger_events
),

islands as (
    -- consecutive rows with the same status form one island; its start is when that status began
    select
        sequenced.*,
        sum(case when previous_status is null or previous_status <> consent_status then 1 else 0 end) over (
            partition by tenant_id, subject_key, purpose_id, channel
            order by ledger_seq
            rows between unbounded preceding and current row
        ) as status_island
    from sequenced
),

final as (
    select
        -- ids
        tenant_id,
        subject_key,
        purpose_id,
        channel,
        ledger_seq,
        -- status
        purpose_name,
        is_marketing,
        consent_status,
        event_type,
        source_system,
        source_id,
        asm_group_id,
        -- evidence
        consent_id,
        capture_method,
        capture_date,
        capture_source,
        notice_version,
        effective_from,
        effective_to,
        recording_referenced,
        recording_present,
        -- timestamps
        event_at as valid_from,
        next_event_at as valid_to,
        min(event_at) over (
            partition by tenant_id, subject_key, purpose_id, channel, status_island
        ) as status_since,
        next_event_at is null as is_current,
        first_value(source_id) over (
            partition by tenant_id, subject_key, purpose_id, channel, status_island
            order by ledger_seq
            rows between unbounded preceding and unbounded following
        ) as status_since_source_id
    from islands
)

select * from final
