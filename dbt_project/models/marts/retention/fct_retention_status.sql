-- Every record of every data category at as_of: anchor, due date under the tenant's policy, hold and erasure.
-- A restricted subject's records (GDPR Art. 18: a restriction standing at as_of) are kept past their retention,
-- as storage is all restricted data may undergo; their own erasure request still erases them.
-- Refreshed by difference on DuckDB (macros/diff_table.sql): each day moves days_past_due of every due record,
-- which one UPDATE restamps; the MERGE then only touches records whose due date, hold or due state changed.
{{ config(
    materialized=diff_table_or_table(),
    unique_key=['tenant_id', 'source_table', 'record_id'],
    restamp={'days_past_due': 'retention_days_past_due'}
) }}
with

records as (
    select * from {{ ref('int_retention_records_anchored') }}
),

retention_policy as (
    select * from {{ source('lethe_meta', 'retention_policy') }}
),

legal_holds as (
    select * from {{ ref('int_legal_holds_resolved') }}
),

erasure_requests as (
    select * from {{ ref('int_erasure_requests_resolved') }}
),

crm_contacts as (
    select * from {{ ref('int_consent_subject_identities') }}
),

subject_flags as (
    select * from {{ ref('int_consent_subject_flags') }}
),

contact_records as (
    select * from {{ ref('stg_connect__contact_records') }}
),

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }}
),

-- a hold is open at as_of from its start date through its end date (inclusive; no end = open-ended)
open_holds as (
    select
        tenant_id,
        subject_key,
        count(*) as open_hold_count
    from legal_holds
    where subject_key is not null
        and start_date <= {{ dbt.cast(as_of(), api.Column.translate_type('date')) }}
        and (end_date is null or end_date >= {{ dbt.cast(as_of(), api.Column.translate_type('date')) }})
    group by tenant_id, subject_key
),

-- every address of a held person's CRM contacts: a call or mail from one is kept even when the marts give it to
-- someone else who shares the address (a household landline), as the purge's own hold check keeps it
held_contacts as (
    select crm_contacts.*
    from crm_contacts
    inner join open_holds
        on open_holds.tenant_id = crm_contacts.tenant_id
        and open_holds.subject_key = crm_contacts.subject_key
),

held_addresses as (
    select tenant_id, email as address from held_contacts where email is not null
    union
    select tenant_id, phone as address from held_contacts where phone is not null
    union
    select tenant_id, mobile_phone as address from held_contacts where mobile_phone is not null
),

held_calls as (
    select distinct contact_records.tenant_id, contact_records.contact_id
    from contact_records
    inner join held_addresses
        on held_addresses.tenant_id = contact_records.tenant_id
        and held_addresses.address = contact_records.customer_address
),

held_by_address as (
    select tenant_id, 'contact_records' as source_table, contact_id as record_id from held_calls
    union all
    select tenant_id, 'recordings' as source_table, contact_id as record_id from held_calls
    union all
    select tenant_id, 'transcripts' as source_table, contact_id as record_id from held_calls
    union all
    select distinct email_events.tenant_id, 'email_events' as source_table, email_events.sg_event_id as record_id
    from email_events
    inner join held_addresses
        on held_addresses.tenant_id = email_events.tenant_id
        and held_addresses.address = email_events.email
),

erasures as (
    select
        tenant_id,
        subject_key,
        min(requested_at) as erasure_requested_at
    from erasure_requests
    group by tenant_id, subject_key
),

dated as (
    select
        records.*,
        retention_policy.retention_days,
        case
            when records.anchor_at is null or records.is_active_customer then null
            else {{ dbt.dateadd('day', 'retention_policy.retention_days', 'records.anchor_at') }}
        end as retention_due_at,
        erasures.erasure_requested_at,
        coalesce(open_holds.open_hold_count, 0) > 0 or held_by_address.record_id is not null as is_held,
        coalesce(subject_flags.is_restricted, false) as is_restricted
    from records
    left join retention_policy
        on retention_policy.tenant_id = records.tenant_id
        and retention_policy.data_category = records.data_category
    left join erasures
        on erasures.tenant_id = records.tenant_id
        and erasures.subject_key = records.subject_key
    left join open_holds
        on open_holds.tenant_id = records.tenant_id
        and open_holds.subject_key = records.subject_key
    left join subject_flags
        on subject_flags.tenant_id = records.tenant_id
        and subject_flags.subject_key = records.subject_key
    left join held_by_address
        on held_by_address.tenant_id = records.tenant_id
        and held_by_address.source_table = records.source_table
        and held_by_address.record_id = records.record_id
),

judged as (
    select
        dated.*,
        case when erasure_requested_at is not null then erasure_requested_at else retention_due_at end as due_at,
        case when erasure_requested_at is not null then 'erasure_request' else 'retention_expired' end as reason
    from dated
),

final as (
    select
        -- ids
        tenant_id,
        data_category,
        source_table,
        record_id,
        subject_key,
        -- retention
        retention_days,
        is_active_customer,
        erasure_requested_at is not null as is_erasure_requested,
        is_held,
        is_restricted,
        reason,
        -- timestamps
        anchor_at,
        due_at,
        -- judgement at as_of
        coalesce(
            due_at <= {{ as_of() }} and not is_held and not (is_restricted and erasure_requested_at is null), false
        ) as is_due,
        {{ retention_days_past_due() }} as days_past_due
    from judged
)

select * from final
