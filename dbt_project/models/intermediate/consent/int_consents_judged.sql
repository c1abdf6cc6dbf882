-- Current consent per subject, purpose and channel judged at as-of: valid, or the first rule it fails.
with

ledger as (
    select * from {{ ref('int_consents_resolved') }}
),

policy as (
    select * from {{ source('lethe_meta', 'tenant_policy') }}
),

current_rows as (
    select
        ledger.*,
        coalesce(policy.consent_refresh_days, {{ var('default_consent_refresh_days', 730) }}) as consent_refresh_days
    from ledger
    left join policy
        on policy.tenant_id = ledger.tenant_id
    where ledger.is_current
),

judged as (
    select
        current_rows.*,
        {{ consent_validity_reason('current_rows', as_of(), 'current_rows.recording_present',
            'current_rows.consent_refresh_days') }} as validity_reason
    from current_rows
),

final as (
    select
        -- ids
        tenant_id,
        subject_key,
        purpose_id,
        channel,
        -- status
        purpose_name,
        is_marketing,
        consent_status,
        validity_reason,
        validity_reason = 'valid' as is_valid,
        status_since,
        event_type as last_event_type,
        source_system as last_event_source,
        source_id as last_event_id,
        -- evidence
        consent_id,
        capture_method,
        capture_date,
        notice_version,
        effective_to,
        recording_present,
        consent_refresh_days,
        {{ as_of() }} as as_of
    from judged
)

select * from final
