-- Legal holds with every subject they hold: the person of the Contact Id, else the email's, and every person one
-- of whose CRM contacts holds the email now. An email two people share (a household address) holds both, as the
-- purge's own hold check does: legal holds always win, and the marts must not call a record due that the purge
-- keeps. A hold that names nobody known is one row without a subject.
with

legal_holds as (
    select * from {{ ref('stg_lethe__legal_holds') }}
),

identities as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

contacts as (
    select * from {{ ref('stg_salesforce__contacts') }}
),

matched as (
    {{ resolve_subject('legal_holds', 'identities', [
        ('contact', 'crm_contact_id'),
        ('email', 'subject_email'),
    ]) }}
),

-- the people of every CRM contact holding the hold's email now
email_holders as (
    select legal_holds.tenant_id, legal_holds.hold_id, identities.subject_key
    from legal_holds
    inner join contacts
        on contacts.tenant_id = legal_holds.tenant_id
        and contacts.email = legal_holds.subject_email
    inner join identities
        on identities.tenant_id = contacts.tenant_id
        and identities.identity_kind = 'contact'
        and identities.identity_value = contacts.id
),

held_subjects as (
    select tenant_id, hold_id, subject_key from matched where subject_key is not null
    union
    select tenant_id, hold_id, subject_key from email_holders
),

final as (
    select
        -- ids
        legal_holds.tenant_id,
        legal_holds.hold_id,
        held_subjects.subject_key,
        -- attributes
        legal_holds.reason,
        -- dates
        legal_holds.start_date,
        legal_holds.end_date
    from legal_holds
    left join held_subjects
        on held_subjects.tenant_id = legal_holds.tenant_id
        and held_subjects.hold_id = legal_holds.hold_id
)

select * from final
