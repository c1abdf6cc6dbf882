-- Erasure requests per subject received by as_of: DSR type erasure, or a Salesforce Individual with ShouldForget.
with

dsr_requests as (
    select * from {{ ref('stg_lethe__dsr_requests') }}
),

individuals as (
    select * from {{ ref('stg_salesforce__individuals') }}
),

identities as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

dsr_erasures as (
    select
        dsr_requests.tenant_id,
        coalesce(by_contact.subject_key, by_email.subject_key, by_phone.subject_key) as subject_key,
        'dsr_request' as requested_via,
        dsr_requests.request_id as request_ref,
        dsr_requests.received_at as requested_at
    from dsr_requests
    left join identities as by_contact
        on by_contact.tenant_id = dsr_requests.tenant_id
        and by_contact.identity_kind = 'contact'
        and by_contact.identity_value = dsr_requests.crm_contact_id
    left join identities as by_email
        on by_email.tenant_id = dsr_requests.tenant_id
        and by_email.identity_kind = 'email'
        and by_email.identity_value = dsr_requests.subject_email
    left join identities as by_phone
        on by_phone.tenant_id = dsr_requests.tenant_id
        and by_phone.identity_kind = 'phone'
        and by_phone.identity_value = dsr_requests.subject_phone
    where dsr_requests.type = 'erasure'
        and dsr_requests.received_at <= {{ as_of() }}
),

forget_flags as (
    select
        individuals.tenant_id,
        identities.subject_key,
        'should_forget' as requested_via,
        individuals.id as request_ref,
        individuals.last_modified_date as requested_at
    from individuals
    inner join identities
        on identities.tenant_id = individuals.tenant_id
        and identities.identity_kind = 'individual'
        and identities.identity_value = individuals.id
    where individuals.should_forget
        and individuals.last_modified_date <= {{ as_of() }}
),

final as (
    select * from dsr_erasures where subject_key is not null
    union all
    select * from forget_flags
)

select * from final
