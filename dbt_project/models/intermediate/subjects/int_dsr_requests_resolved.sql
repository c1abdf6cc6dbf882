-- Every data-subject request with the subject it names: by Contact Id, else email, else E.164 phone.
-- Not judged at as_of: the erasure ledger and the DSR tracking mart filter on received_at themselves.
with

dsr_requests as (
    select * from {{ ref('stg_lethe__dsr_requests') }}
),

identities as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

matched as (
    {{ resolve_subject('dsr_requests', 'identities', [
        ('contact', 'crm_contact_id'),
        ('email', 'subject_email'),
        ('phone', 'subject_phone'),
    ]) }}
),

final as (
    select
        -- ids
        tenant_id,
        request_id,
        subject_key,
        subject_crm_contact_id,
        -- attributes
        type as request_type,
        matched_by,
        case
            when subject_key is null then 'not_found'
            when is_subject_resolved then 'resolved'
            else 'unresolved'
        end as resolution_status,
        -- timestamps
        received_at,
        verified_at
    from matched
)

select * from final
