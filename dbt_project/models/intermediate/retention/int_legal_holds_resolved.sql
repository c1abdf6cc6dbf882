-- Legal holds attached to their subject (by Contact Id, else by email), with their date range.
with

legal_holds as (
    select * from {{ ref('stg_lethe__legal_holds') }}
),

identities as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

final as (
    select
        -- ids
        legal_holds.tenant_id,
        legal_holds.hold_id,
        coalesce(by_contact.subject_key, by_email.subject_key) as subject_key,
        -- attributes
        legal_holds.reason,
        -- dates
        legal_holds.start_date,
        legal_holds.end_date
    from legal_holds
    left join identities as by_contact
        on by_contact.tenant_id = legal_holds.tenant_id
        and by_contact.identity_kind = 'contact'
        and by_contact.identity_value = legal_holds.crm_contact_id
    left join identities as by_email
        on by_email.tenant_id = legal_holds.tenant_id
        and by_email.identity_kind = 'email'
        and by_email.identity_value = legal_holds.subject_email
)

select * from final
