-- Who may be contacted now, per tenant, purpose and channel, with the address to use.
-- The only mart with an address: email for email, E.164 phone (mobile first for sms) otherwise.
with

assessed as (
    select * from {{ ref('int_audience_members_assessed') }}
),

identities as (
    select * from {{ ref('int_consent_subject_identities') }}
),

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }}
),

hard_bounced as (
    {{ consent_hard_bounced_emails('email_events') }}
),

e164 as (
    -- the person's usable addresses: an email that bounced for good is never the one exported
    select
        identities.tenant_id,
        identities.subject_key,
        case when {{ consent_regex_match('identities.mobile_phone', '^\\+[1-9][0-9]{6,14}$') }}
            then identities.mobile_phone end as mobile,
        case when {{ consent_regex_match('identities.phone', '^\\+[1-9][0-9]{6,14}$') }}
            then identities.phone end as landline,
        case when {{ consent_regex_match('identities.email', var('consent_email_pattern',
            '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$')) }} and hard_bounced.email is null
            then identities.email end as email
    from identities
    left join hard_bounced
        on hard_bounced.tenant_id = identities.tenant_id
        and hard_bounced.email = identities.email
),

addresses as (
    select
        tenant_id,
        subject_key,
        min(email) as email_address,
        coalesce(min(mobile), min(landline)) as sms_address,
        coalesce(min(landline), min(mobile)) as phone_address
    from e164
    group by tenant_id, subject_key
),

final as (
    select
        -- ids
        assessed.tenant_id,
        assessed.purpose_id,
        assessed.purpose_name,
        assessed.channel,
        assessed.subject_key,
        -- pii
        case assessed.channel
            when 'email' then addresses.email_address
            when 'sms' then addresses.sms_address
            else addresses.phone_address
        end as address,
        -- evidence
        assessed.consent_id,
        {{ to_timestamp('assessed.capture_date') }} as consent_captured_at,
        {{ to_timestamp(as_of()) }} as as_of
    from assessed
    inner join addresses
        on addresses.tenant_id = assessed.tenant_id
        and addresses.subject_key = assessed.subject_key
    where assessed.is_eligible
)

select * from final
