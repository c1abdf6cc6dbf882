-- Every CRM contact's subject key with its individual and its contact points (email, E.164 phones).
with

subjects as (
    select * from {{ ref('int_subjects_resolved') }}
),

contacts as (
    select * from {{ ref('stg_salesforce__contacts') }}
),

contact_subjects as (
    select
        contacts.tenant_id,
        subjects.subject_key,
        contacts.id as crm_contact_id,
        contacts.individual_id,
        lower(trim(contacts.email)) as email,
        contacts.phone,
        contacts.mobile_phone,
        contacts.has_opted_out_of_email,
        contacts.do_not_call,
        contacts.last_modified_date as contact_modified_at
    from contacts
    inner join subjects
        on subjects.tenant_id = contacts.tenant_id
        and subjects.crm_contact_id = contacts.id
),

final as (
    select distinct * from contact_subjects
)

select * from final
