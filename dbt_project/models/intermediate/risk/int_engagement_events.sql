-- Engagement events of resolved (CRM) subjects up to as-of: email sends, first open and first click of
-- each message, bounces, spam complaints, and contact-centre contacts (inbound, outbound, negative disposition).
{#- Incremental on DuckDB: a daily build recomputes the events of the subjects whose addresses had raw rows
    loaded, deleted or moved across as_of, or resolve to another subject, since the last build, and keeps the
    others (macros/engagement_events_refresh.sql). The pre-hook deletes, in the same transaction, the rows this
    build recomputes. A purge's rebuild runs with --full-refresh. On Spark it is a plain table. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=(["{{ engagement_events_delete() }}"] if target.type == 'duckdb' else []),
    post_hook=(["{{ engagement_events_keep_bookkeeping() }}"] if target.type == 'duckdb' else []),
    meta={'bookkeeping_tables': ['intermediate.int_engagement_events_addresses',
                                 'intermediate.int_engagement_events_built']},
) }}
{%- set scoped = engagement_events_scoped() %}
with

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }}
),

contact_records as (
    select * from {{ ref('stg_connect__contact_records') }}
),

identities as (
    select * from {{ ref('int_subject_identities_resolved') }}
    {%- if scoped %}
    -- an incremental build: the subjects whose events may have changed (the pre-hook deleted their rows)
    where (tenant_id, subject_key) in (select tenant_id, subject_key from {{ engagement_events_temp('scope') }})
    {%- endif %}
),

email_subjects as (
    select
        email_events.tenant_id,
        identities.subject_key,
        coalesce(email_events.sg_message_id, email_events.sg_event_id) as message_id,
        email_events.event,
        email_events.event_at
    from email_events
    inner join identities
        on identities.tenant_id = email_events.tenant_id
        and identities.identity_kind = 'email'
        and identities.identity_value = email_events.email
    where identities.is_resolved
        and email_events.event_at < {{ as_of() }}
),

first_touches as (
    -- unique opens and clicks: the first of each per message
    select
        tenant_id,
        subject_key,
        event as event_kind,
        min(event_at) as event_at
    from email_subjects
    where event in ('open', 'click')
    group by tenant_id, subject_key, event, message_id
),

email_kinds as (
    select
        tenant_id,
        subject_key,
        case event
            when 'delivered' then 'send'
            when 'bounce' then 'bounce'
            else 'complaint'
        end as event_kind,
        event_at
    from email_subjects
    where event in ('delivered', 'bounce', 'spamreport')
    union all
    select tenant_id, subject_key, event_kind, event_at from first_touches
),

contact_subjects as (
    select
        contact_records.tenant_id,
        identities.subject_key,
        contact_records.initiation_timestamp as event_at,
        contact_records.initiation_method in ('INBOUND', 'CALLBACK') as is_inbound,
        -- a negative disposition: the queue or the contact attributes speak of a complaint or cancellation
        (
            lower(coalesce(contact_records.queue_name, '')) like '%complain%'
            or lower(coalesce(contact_records.queue_name, '')) like '%cancel%'
            or lower(coalesce(contact_records.queue_name, '')) like '%retention%'
            or lower(coalesce(contact_records.attributes, '')) like '%complain%'
            or lower(coalesce(contact_records.attributes, '')) like '%cancel%'
            or lower(coalesce(contact_records.attributes, '')) like '%unsubscribe%'
            or lower(coalesce(contact_records.attributes, '')) like '%opt%out%'
        ) as is_negative
    from contact_records
    inner join identities
        on identities.tenant_id = contact_records.tenant_id
        and identities.identity_kind = {{ contact_record_address_kind('contact_records') }}
        and identities.identity_value = {{ contact_record_address_value('contact_records') }}
    where identities.is_resolved
        and contact_records.initiation_timestamp < {{ as_of() }}
),

contact_kinds as (
    select
        tenant_id,
        subject_key,
        case when is_inbound then 'inbound_contact' else 'outbound_contact' end as event_kind,
        event_at
    from contact_subjects
    union all
    select tenant_id, subject_key, 'negative_contact' as event_kind, event_at
    from contact_subjects
    where is_inbound and is_negative
),

final as (
    select
        -- ids
        tenant_id,
        subject_key,
        -- event
        event_kind,
        event_at,
        {{ dbt.date_trunc('day', 'event_at') }} as activity_day
    from email_kinds
    union all
    select
        tenant_id,
        subject_key,
        event_kind,
        event_at,
        {{ dbt.date_trunc('day', 'event_at') }} as activity_day
    from contact_kinds
)

select * from final
