-- Every CRM contact with its subject key, individual, contact points and opt-out flags.
with

identity_index as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

contacts as (
    select * from {{ ref('stg_salesforce__contacts') }}
),

final as (
    select
        -- ids
        contacts.tenant_id,
        identity_index.subject_key,
        contacts.id as crm_contact_id,
        contacts.individual_id,
        -- pii
        contacts.email,
        contacts.phone,
        contacts.mobile_phone,
        -- preferences
        contacts.has_opted_out_of_email,
        contacts.do_not_call,
        -- timestamps
        contacts.last_modified_date as contact_modified_at
    from contacts
    inner join identity_index
        on identity_index.tenant_id = contacts.tenant_id
        and identity_index.identity_kind = 'contact'
        and identity_index.identity_value = contacts.id
)

select * from final
