-- Breaches of consent, restriction and objection, each with its evidence (source ids, timestamps, delay):
-- marketing without valid consent, marketing after a withdrawal, outbound calls to DoNotCall subjects,
-- processing of restricted subjects, profiling of subjects who object to it (scored by the risk model, or sent
-- a campaign whose purpose profiles them).
-- Refreshed by difference on DuckDB (macros/diff_table.sql).
{{ config(materialized=diff_table_or_table(), unique_key='violation_id', restamp={'as_of': 'as_of'}) }}

with

touches as (
    select * from {{ ref('int_marketing_touches_unioned') }}
),

ledger as (
    select * from {{ ref('int_consents_resolved') }}
),

flags as (
    select * from {{ ref('int_consent_subject_flags') }}
),

restriction_periods as (
    select * from {{ ref('int_restriction_periods') }}
),

points as (
    select * from {{ ref('int_consent_contact_points') }}
),

contact_records as (
    select * from {{ ref('stg_connect__contact_records') }}
),

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }}
),

policy as (
    select * from {{ source('lethe_meta', 'tenant_policy') }}
),

profiling_violations as (
    select * from {{ ref('int_profiling_violations') }}
),

touch_consent as (
    -- the consent state in force when each marketing contact was made
    select
        touches.tenant_id,
        touches.subject_key,
        touches.channel,
        touches.purpose_id,
        touches.purpose_name,
        touches.campaign_id,
        touches.touched_at,
        touches.source_table,
        touches.record_id,
        touches.message_id,
        ledger.consent_status,
        ledger.consent_id,
        ledger.capture_method,
        ledger.capture_date,
        ledger.notice_version,
        ledger.effective_from,
        ledger.effective_to,
        ledger.recording_referenced,
        ledger.status_since,
        ledger.status_since_source_id,
        coalesce(policy.consent_refresh_days, {{ var('default_consent_refresh_days', 730) }}) as consent_refresh_days
    from touches
    left join ledger
        on ledger.tenant_id = touches.tenant_id
        and ledger.subject_key = touches.subject_key
        and ledger.purpose_id = touches.purpose_id
        and ledger.channel = touches.channel
        and ledger.valid_from <= touches.touched_at
        and touches.touched_at < {{ open_ended('ledger.valid_to') }}
    left join policy
        on policy.tenant_id = touches.tenant_id
),

touch_judged as (
    select
        touch_consent.*,
        {{ consent_validity_reason('touch_consent', 'touch_consent.touched_at',
            'touch_consent.recording_referenced', 'touch_consent.consent_refresh_days') }} as consent_reason
    from touch_consent
),

consent_violations as (
    select
        tenant_id,
        subject_key,
        case when consent_reason = 'withdrawn' then 'marketing_after_withdrawal'
            else 'marketing_without_valid_consent' end as violation_type,
        channel,
        purpose_id,
        purpose_name,
        campaign_id,
        touched_at as occurred_at,
        source_table,
        record_id,
        message_id,
        consent_id,
        consent_reason,
        case when consent_reason = 'withdrawn' then status_since_source_id end as withdrawal_event_id,
        case when consent_reason = 'withdrawn' then status_since end as withdrawn_at,
        case when consent_reason = 'withdrawn'
            then {{ dbt.datediff('status_since', 'touched_at', 'day') }} end as delay_days
    from touch_judged
    where consent_reason <> 'valid'
),

subject_calls as (
    select
        contact_records.*,
        points.subject_key
    from contact_records
    inner join points
        on points.tenant_id = contact_records.tenant_id
        and points.kind = case when contact_records.customer_email is not null then 'email' else 'phone' end
        and points.point_value = {{ contact_record_address_value('contact_records') }}
    where contact_records.initiation_timestamp <= {{ as_of() }}
),

do_not_call_violations as (
    select
        subject_calls.tenant_id,
        subject_calls.subject_key,
        'outbound_call_do_not_call' as violation_type,
        'phone' as channel,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as purpose_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as purpose_name,
        coalesce({{ consent_json_value('subject_calls.attributes', 'campaignId') }}, {{ consent_json_value('subject_calls.attributes', 'campaign_id') }}) as campaign_id,
        subject_calls.initiation_timestamp as occurred_at,
        'contact_records' as source_table,
        subject_calls.contact_id as record_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as message_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as consent_id,
        'do_not_call' as consent_reason,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as withdrawal_event_id,
        flags.do_not_call_at as withdrawn_at,
        case when subject_calls.initiation_timestamp >= flags.do_not_call_at
            then {{ dbt.datediff('flags.do_not_call_at', 'subject_calls.initiation_timestamp', 'day') }} end
            as delay_days
    from subject_calls
    inner join flags
        on flags.tenant_id = subject_calls.tenant_id
        and flags.subject_key = subject_calls.subject_key
    where flags.do_not_call
        and subject_calls.channel = 'VOICE'
        and {{ consent_outbound_call('subject_calls.initiation_method') }}
),

restricted_activity as (
    select
        tenant_id, subject_key, 'contact_records' as source_table, contact_id as record_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as message_id,
        initiation_timestamp as occurred_at,
        case when channel = 'VOICE' then 'phone' else lower(channel) end as channel
    from subject_calls
    union all
    select
        email_events.tenant_id, points.subject_key, 'email_events' as source_table,
        email_events.sg_event_id as record_id, email_events.sg_message_id as message_id,
        email_events.event_at as occurred_at, 'email' as channel
    from email_events
    inner join points
        on points.tenant_id = email_events.tenant_id
        and points.kind = 'email'
        and points.point_value = email_events.email
    where email_events.event not in ('unsubscribe', 'group_unsubscribe', 'spamreport')
        and email_events.event_at <= {{ as_of() }}
),

-- processing inside a restriction period, dated by the earliest restriction standing then
restricted_when as (
    select
        restricted_activity.tenant_id,
        restricted_activity.subject_key,
        restricted_activity.source_table,
        restricted_activity.record_id,
        restricted_activity.message_id,
        restricted_activity.occurred_at,
        restricted_activity.channel,
        min(restriction_periods.restricted_from) as restricted_at
    from restricted_activity
    inner join restriction_periods
        on restriction_periods.tenant_id = restricted_activity.tenant_id
        and restriction_periods.subject_key = restricted_activity.subject_key
        and restricted_activity.occurred_at > restriction_periods.restricted_from
        and restricted_activity.occurred_at < {{ open_ended('restriction_periods.restricted_until') }}
    group by
        restricted_activity.tenant_id,
        restricted_activity.subject_key,
        restricted_activity.source_table,
        restricted_activity.record_id,
        restricted_activity.message_id,
        restricted_activity.occurred_at,
        restricted_activity.channel
),

restriction_violations as (
    select
        restricted_activity.tenant_id,
        restricted_activity.subject_key,
        'processing_while_restricted' as violation_type,
        restricted_activity.channel,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as purpose_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as purpose_name,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as campaign_id,
        restricted_activity.occurred_at,
        restricted_activity.source_table,
        restricted_activity.record_id,
        restricted_activity.message_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as consent_id,
        'restricted' as consent_reason,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as withdrawal_event_id,
        restricted_activity.restricted_at as withdrawn_at,
        {{ dbt.datediff('restricted_activity.restricted_at', 'restricted_activity.occurred_at', 'day') }} as delay_days
    from restricted_when as restricted_activity
),

objection_violations as (
    -- a campaign whose purpose profiles the subject (personalised offers), sent after they objected to profiling
    select
        touches.tenant_id,
        touches.subject_key,
        'profiling_after_objection' as violation_type,
        touches.channel,
        touches.purpose_id,
        touches.purpose_name,
        touches.campaign_id,
        touches.touched_at as occurred_at,
        touches.source_table,
        touches.record_id,
        touches.message_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as consent_id,
        'objects_to_profiling' as consent_reason,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as withdrawal_event_id,
        flags.profiling_objection_at as withdrawn_at,
        {{ dbt.datediff('flags.profiling_objection_at', 'touches.touched_at', 'day') }} as delay_days
    from touches
    inner join flags
        on flags.tenant_id = touches.tenant_id
        and flags.subject_key = touches.subject_key
    where touches.is_profiling
        and flags.objects_to_profiling
        and touches.touched_at > flags.profiling_objection_at
),

unioned as (
    select * from consent_violations
    union all
    select * from objection_violations
    union all
    select * from do_not_call_violations
    union all
    select * from restriction_violations
    union all
    select * from profiling_violations
),

final as (
    select
        -- ids
        {{ dbt.hash(dbt.concat(['violation_type', "'|'", 'tenant_id', "'|'", 'source_table', "'|'",
            'record_id', "'|'", "coalesce(purpose_id, '')"])) }} as violation_id,
        tenant_id,
        subject_key,
        -- what
        violation_type,
        channel,
        purpose_id,
        purpose_name,
        campaign_id,
        -- evidence
        {{ to_timestamp('occurred_at') }} as occurred_at,
        source_table,
        record_id,
        message_id,
        consent_id,
        consent_reason,
        withdrawal_event_id,
        {{ to_timestamp('withdrawn_at') }} as withdrawn_at,
        {{ dbt.cast('delay_days', api.Column.translate_type('integer')) }} as delay_days,
        {{ to_timestamp(as_of()) }} as as_of
    from unioned
)

select * from final
