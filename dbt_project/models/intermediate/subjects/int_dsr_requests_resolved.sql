-- Every data-subject request with the subject it names: by Contact Id, else email, else E.164 phone. A request
-- whose identifiers name more than one person (an email two people's CRM contacts hold, a Contact Id of one with
-- the email of another, an identifier an erasure tombstoned with one of a live person) names nobody: `ambiguous`,
-- never guessed, as lethe.dsr refuses it (an erasure made on a guess destroys the wrong person's data). Not
-- judged at as_of: the erasure ledger and the DSR tracking mart filter on received_at themselves.
with

dsr_requests as (
    select * from {{ ref('stg_lethe__dsr_requests') }}
),

identities as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

contacts as (
    select * from {{ ref('stg_salesforce__contacts') }}
),

tombstones as (
    select * from {{ source('lethe_meta', 'tombstones') }}
),

-- requests lethe.dsr (or the purge of one of their people) found naming two people
found_ambiguous as (
    select distinct tenant_id, request_id
    from {{ source('lethe_meta', 'dsr_processed') }}
    where outcome = 'ambiguous'
),

matched as (
    {{ resolve_subject('dsr_requests', 'identities', [
        ('contact', 'crm_contact_id'),
        ('email', 'subject_email'),
        ('phone', 'subject_phone'),
    ]) }}
),

-- every CRM contact an identifier of the request names (the Contact Id; every contact holding the email or the
-- phone now), one equality join each
named_contacts as (
    select dsr_requests.tenant_id, dsr_requests.request_id, contacts.id as contact_id
    from dsr_requests
    inner join contacts
        on contacts.tenant_id = dsr_requests.tenant_id
        and contacts.id = dsr_requests.crm_contact_id
    union
    select dsr_requests.tenant_id, dsr_requests.request_id, contacts.id as contact_id
    from dsr_requests
    inner join contacts
        on contacts.tenant_id = dsr_requests.tenant_id
        and contacts.email = dsr_requests.subject_email
    union
    select dsr_requests.tenant_id, dsr_requests.request_id, contacts.id as contact_id
    from dsr_requests
    inner join contacts
        on contacts.tenant_id = dsr_requests.tenant_id
        and contacts.phone = dsr_requests.subject_phone
    union
    select dsr_requests.tenant_id, dsr_requests.request_id, contacts.id as contact_id
    from dsr_requests
    inner join contacts
        on contacts.tenant_id = dsr_requests.tenant_id
        and contacts.mobile_phone = dsr_requests.subject_phone
),

-- the people those contacts are, and the CRM subjects the identity index gives each identifier (an address a
-- contact held before)
named_people as (
    select named_contacts.tenant_id, named_contacts.request_id, identities.subject_key
    from named_contacts
    inner join identities
        on identities.tenant_id = named_contacts.tenant_id
        and identities.identity_kind = 'contact'
        and identities.identity_value = named_contacts.contact_id
    union
    select tenant_id, request_id, by_contact.subject_key
    from (
        {{ resolve_subject('dsr_requests', 'identities', [('contact', 'crm_contact_id')]) }}
    ) as by_contact
    where by_contact.is_subject_resolved
    union
    select tenant_id, request_id, by_email.subject_key
    from (
        {{ resolve_subject('dsr_requests', 'identities', [('email', 'subject_email')]) }}
    ) as by_email
    where by_email.is_subject_resolved
    union
    select tenant_id, request_id, by_phone.subject_key
    from (
        {{ resolve_subject('dsr_requests', 'identities', [('phone', 'subject_phone')]) }}
    ) as by_phone
    where by_phone.is_subject_resolved
),

people_named as (
    select tenant_id, request_id, count(distinct subject_key) as people_count
    from named_people
    group by tenant_id, request_id
),

-- the keyed hash of each identifier of the request, as a tombstone holds it
request_identities as (
    select tenant_id, request_id, 'contact' as kind,
        {{ keyed_hash('tenant_id', 'contact', 'crm_contact_id') }} as identity_hash
    from dsr_requests where crm_contact_id is not null
    union all
    select tenant_id, request_id, 'email' as kind,
        {{ keyed_hash('tenant_id', 'email', 'subject_email') }} as identity_hash
    from dsr_requests where subject_email is not null
    union all
    select tenant_id, request_id, 'phone' as kind,
        {{ keyed_hash('tenant_id', 'phone', 'subject_phone') }} as identity_hash
    from dsr_requests where subject_phone is not null
),

-- an identifier of the request an erasure tombstoned (the person was erased, by this request or another)
tombstoned_requests as (
    select distinct request_identities.tenant_id, request_identities.request_id
    from request_identities
    inner join tombstones
        on tombstones.tenant_id = request_identities.tenant_id
        and tombstones.kind = request_identities.kind
        and tombstones.identity_hash = request_identities.identity_hash
),

judged as (
    select
        matched.*,
        -- two people, or a CRM person and one an erasure tombstoned (a live person never holds a tombstoned
        -- identifier: ingest drops it), say nothing of which the requester was; nor does a request found naming two
        -- people once, after the erasure of one of them blanked that one's address from it (it then names the other)
        coalesce(people_named.people_count, 0) > 1
            or (tombstoned_requests.request_id is not null and coalesce(people_named.people_count, 0) > 0)
            or found_ambiguous.request_id is not null as is_ambiguous,
        tombstoned_requests.request_id is not null as is_identity_tombstoned
    from matched
    left join people_named
        on people_named.tenant_id = matched.tenant_id
        and people_named.request_id = matched.request_id
    left join tombstoned_requests
        on tombstoned_requests.tenant_id = matched.tenant_id
        and tombstoned_requests.request_id = matched.request_id
    left join found_ambiguous
        on found_ambiguous.tenant_id = matched.tenant_id
        and found_ambiguous.request_id = matched.request_id
),

final as (
    select
        -- ids
        tenant_id,
        request_id,
        case when not is_ambiguous then subject_key end as subject_key,
        case when not is_ambiguous then subject_crm_contact_id end as subject_crm_contact_id,
        -- attributes
        type as request_type,
        case when not is_ambiguous then matched_by end as matched_by,
        case
            when is_ambiguous then 'ambiguous'
            when subject_key is null then 'not_found'
            when is_subject_resolved then 'resolved'
            else 'unresolved'
        end as resolution_status,
        -- an identifier of an unambiguous request is tombstoned: its person was erased
        is_identity_tombstoned and not is_ambiguous as is_identity_tombstoned,
        -- timestamps
        received_at,
        verified_at,
        extension_notified_at,
        restriction_lifted_at
    from judged
)

select * from final
