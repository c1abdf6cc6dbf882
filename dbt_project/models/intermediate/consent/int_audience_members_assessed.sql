-- Every CRM subject for every purpose and audience channel, with whether they may be contacted
-- and, if not, the first reason: erased, restricted, objected (to marketing, or to profiling for a profiling
-- purpose), spam report, consent, an unsubscribe of the address since the consent, hard bounce, address.
-- Refreshed by difference on DuckDB (macros/diff_table.sql).
{{ config(materialized=diff_table_or_table(), unique_key=['tenant_id', 'purpose_id', 'channel', 'subject_key']) }}

with

identities as (
    select * from {{ ref('int_consent_subject_identities') }}
),

flags as (
    select * from {{ ref('int_consent_subject_flags') }}
),

purposes as (
    select * from {{ ref('int_consent_purposes') }}
),

consents as (
    select * from {{ ref('int_consents_judged') }}
),

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }}
),

audience_channels as (
    select 'email' as channel
    union all select 'sms'
    union all select 'phone'
),

hard_bounced as (
    {{ consent_hard_bounced_emails('email_events') }}
),

spam_reported as (
    select distinct tenant_id, email
    from email_events
    where event = 'spamreport'
        and event_at <= {{ as_of() }}
),

unsubscribed as (
    -- a SendGrid (global) unsubscribe suppresses the address, whichever contact holds it: the ledger gives the
    -- event to the address's one owner, and a second contact sharing it must not be mailed there either
    select tenant_id, email, max(event_at) as unsubscribed_at
    from email_events
    where event = 'unsubscribe'
        and event_at <= {{ as_of() }}
    group by tenant_id, email
),

subject_points as (
    select
        identities.tenant_id,
        identities.subject_key,
        max(case when {{ consent_regex_match('identities.email', var('consent_email_pattern',
            '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$')) }} then 1 else 0 end) as has_valid_email,
        -- 1 when every valid email of the person bounced for good (one that still delivers is the one to use:
        -- audience_eligible exports it); null when they have no valid email
        min(case when {{ consent_regex_match('identities.email', var('consent_email_pattern',
            '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$')) }}
            then case when hard_bounced.email is not null then 1 else 0 end end) as has_hard_bounced,
        max(case when spam_reported.email is not null then 1 else 0 end) as has_spam_reported,
        max(unsubscribed.unsubscribed_at) as address_unsubscribed_at,
        max(case when {{ consent_regex_match('identities.phone', '^\\+[1-9][0-9]{6,14}$') }}
            or {{ consent_regex_match('identities.mobile_phone', '^\\+[1-9][0-9]{6,14}$') }} then 1 else 0 end)
            as has_valid_phone
    from identities
    left join hard_bounced
        on hard_bounced.tenant_id = identities.tenant_id
        and hard_bounced.email = identities.email
    left join spam_reported
        on spam_reported.tenant_id = identities.tenant_id
        and spam_reported.email = identities.email
    left join unsubscribed
        on unsubscribed.tenant_id = identities.tenant_id
        and unsubscribed.email = identities.email
    group by identities.tenant_id, identities.subject_key
),

population as (
    select
        subject_points.*,
        purposes.purpose_id,
        purposes.purpose_name,
        purposes.is_marketing,
        purposes.is_profiling,
        audience_channels.channel
    from subject_points
    inner join purposes
        on purposes.tenant_id = subject_points.tenant_id
    cross join audience_channels
),

assessed as (
    select
        population.tenant_id,
        population.purpose_id,
        population.purpose_name,
        population.channel,
        population.subject_key,
        consents.consent_id,
        consents.capture_date,
        case
            when flags.erasure_requested then 'erasure_requested'
            when flags.is_restricted then 'restricted'
            when flags.objects_to_marketing then 'objected'
            when flags.objects_to_profiling and population.is_profiling then 'objected'
            when population.channel = 'email' and population.has_spam_reported = 1 then 'spam_reported'
            when consents.validity_reason is null then 'no_consent'
            when consents.validity_reason <> 'valid' then consents.validity_reason
            when population.channel = 'email' and population.is_marketing
                and population.address_unsubscribed_at >= consents.capture_date then 'withdrawn'
            when population.channel = 'email' and population.has_hard_bounced = 1 then 'hard_bounced'
            when population.channel = 'email' and population.has_valid_email = 0 then 'no_valid_address'
            when population.channel in ('sms', 'phone') and population.has_valid_phone = 0 then 'no_valid_address'
            else 'eligible'
        end as audience_reason
    from population
    left join flags
        on flags.tenant_id = population.tenant_id
        and flags.subject_key = population.subject_key
    left join consents
        on consents.tenant_id = population.tenant_id
        and consents.subject_key = population.subject_key
        and consents.purpose_id = population.purpose_id
        and consents.channel = population.channel
),

final as (
    select
        assessed.*,
        audience_reason = 'eligible' as is_eligible
    from assessed
)

select * from final
