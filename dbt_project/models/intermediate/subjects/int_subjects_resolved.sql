-- One data subject per tenant: a CRM person (Contact Ids sharing an IndividualId) or an unresolved address.
with

identities as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

contacts as (
    select * from {{ ref('stg_salesforce__contacts') }}
),

subjects as (
    select
        tenant_id,
        subject_key,
        max(crm_contact_id) as crm_contact_id,
        max(case when identity_kind = 'individual' then identity_value end) as individual_id,
        max(case when is_resolved then 1 else 0 end) = 1 as is_resolved,
        case
            when max(case when is_resolved then 1 else 0 end) = 1 then 'contact'
            else max(identity_kind)
        end as resolved_by,
        count(*) as identity_count
    from identities
    group by tenant_id, subject_key
),

final as (
    select
        -- ids
        subjects.tenant_id,
        subjects.subject_key,
        subjects.crm_contact_id,
        subjects.individual_id,
        -- attributes
        subjects.is_resolved,
        subjects.resolved_by,
        subjects.identity_count,
        contacts.customer_status
    from subjects
    left join contacts
        on contacts.tenant_id = subjects.tenant_id
        and contacts.id = subjects.crm_contact_id
)

select * from final
