-- Every identity seen in any source (Contact Id, Individual Id, email, E.164 phone) mapped to one subject per tenant.
-- CRM contacts sharing an IndividualId are one subject, keyed by the smallest Contact Id of that Individual when it
-- was first seen: the key is kept (lethe_meta.subject_keys, written by the post-hook below on DuckDB), so a person
-- keeps it when that contact is retired. An address a contact held before (ingest keeps it) stays with its person
-- unless another contact holds it now; an address that matches no CRM contact becomes an unresolved subject keyed
-- by the address itself. Refreshed by difference on DuckDB (macros/diff_table.sql).
{{ config(
    materialized=diff_table_or_table(),
    unique_key=['tenant_id', 'identity_kind', 'identity_value'],
    post_hook=(["{{ keep_subject_keys('keep') }}", "{{ keep_subject_keys('forget') }}"]
               if target.type == 'duckdb' else []),
) }}

with

contacts as (
    select * from {{ ref('stg_salesforce__contacts') }}
),

previous_addresses as (
    select * from {{ ref('stg_salesforce__contact_previous_addresses') }}
),

contact_records as (
    select * from {{ ref('stg_connect__contact_records') }}
),

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }}
),

dsr_requests as (
    select * from {{ ref('stg_lethe__dsr_requests') }}
),

legal_holds as (
    select * from {{ ref('stg_lethe__legal_holds') }}
),

-- a kept key is the key of the Contact it was derived from; if that Contact now stands apart from the Individual
-- (taken off it in the CRM), it is that Contact's own key again and the Individual is keyed afresh
claimed_keys as (
    select tenant_id, individual_id, {{ keyed_hash('tenant_id', 'contact', 'id') }} as subject_key
    from contacts
),

kept_keys as (
    select kept.tenant_id, kept.individual_id, kept.subject_key
    from {{ ref('stg_lethe__subject_keys') }} as kept
    left join claimed_keys
        on claimed_keys.tenant_id = kept.tenant_id
        and claimed_keys.subject_key = kept.subject_key
        and claimed_keys.individual_id is distinct from kept.individual_id
    where claimed_keys.tenant_id is null
),

-- one anchor contact per Individual (or per Contact without an Individual), and the key the Individual was given
contact_groups as (
    select
        contacts.tenant_id,
        contacts.id as crm_contact_id,
        contacts.individual_id,
        contacts.email,
        contacts.phone,
        contacts.mobile_phone,
        contacts.last_modified_date,
        min(contacts.id) over (
            partition by contacts.tenant_id, coalesce(contacts.individual_id, contacts.id)
        ) as anchor_contact_id,
        kept_keys.subject_key as kept_subject_key
    from contacts
    left join kept_keys
        on kept_keys.tenant_id = contacts.tenant_id
        and kept_keys.individual_id = contacts.individual_id
),

crm_identities as (
    select tenant_id, 'contact' as identity_kind, crm_contact_id as identity_value, anchor_contact_id, kept_subject_key,
        last_modified_date, true as is_current
    from contact_groups
    union all
    select tenant_id, 'individual' as identity_kind, individual_id as identity_value, anchor_contact_id, kept_subject_key,
        last_modified_date, true as is_current
    from contact_groups where individual_id is not null
    union all
    select tenant_id, 'email' as identity_kind, email as identity_value, anchor_contact_id, kept_subject_key,
        last_modified_date, true as is_current
    from contact_groups where email is not null
    union all
    select tenant_id, 'phone' as identity_kind, phone as identity_value, anchor_contact_id, kept_subject_key,
        last_modified_date, true as is_current
    from contact_groups where phone is not null
    union all
    select tenant_id, 'phone' as identity_kind, mobile_phone as identity_value, anchor_contact_id, kept_subject_key,
        last_modified_date, true as is_current
    from contact_groups where mobile_phone is not null
    union all
    -- an address the contact held before (an unsubscribe, a call or a mail from it stays the person's)
    select
        previous_addresses.tenant_id,
        previous_addresses.kind as identity_kind,
        previous_addresses.address as identity_value,
        contact_groups.anchor_contact_id,
        contact_groups.kept_subject_key,
        previous_addresses.superseded_at as last_modified_date,
        false as is_current
    from previous_addresses
    inner join contact_groups
        on contact_groups.tenant_id = previous_addresses.tenant_id
        and contact_groups.crm_contact_id = previous_addresses.contact_id
),

-- an address shared by several CRM subjects belongs to the one holding it now, then to the most recently
-- modified one
crm_ranked as (
    select
        *,
        row_number() over (
            partition by tenant_id, identity_kind, identity_value
            order by is_current desc, last_modified_date desc, anchor_contact_id
        ) as rank_in_identity
    from crm_identities
),

crm_resolved as (
    select tenant_id, identity_kind, identity_value, anchor_contact_id, kept_subject_key
    from crm_ranked
    where rank_in_identity = 1
),

observed_addresses as (
    select tenant_id, 'email' as identity_kind, customer_email as identity_value
    from contact_records where customer_email is not null
    union
    select tenant_id, 'phone' as identity_kind, customer_phone as identity_value
    from contact_records where customer_phone is not null
    union
    select tenant_id, 'email' as identity_kind, email as identity_value
    from email_events where email is not null
    union
    select tenant_id, 'email' as identity_kind, subject_email as identity_value
    from dsr_requests where subject_email is not null
    union
    select tenant_id, 'phone' as identity_kind, subject_phone as identity_value
    from dsr_requests where subject_phone is not null
    union
    select tenant_id, 'email' as identity_kind, subject_email as identity_value
    from legal_holds where subject_email is not null
),

unresolved as (
    select observed_addresses.*
    from observed_addresses
    left join crm_resolved
        on crm_resolved.tenant_id = observed_addresses.tenant_id
        and crm_resolved.identity_kind = observed_addresses.identity_kind
        and crm_resolved.identity_value = observed_addresses.identity_value
    where crm_resolved.tenant_id is null
),

final as (
    select
        -- ids
        tenant_id,
        identity_kind,
        identity_value,
        coalesce(kept_subject_key, {{ keyed_hash('tenant_id', 'contact', 'anchor_contact_id') }}) as subject_key,
        anchor_contact_id as crm_contact_id,
        -- flags
        true as is_resolved
    from crm_resolved
    union all
    select
        tenant_id,
        identity_kind,
        identity_value,
        case identity_kind
            when 'email' then {{ keyed_hash('tenant_id', 'email', 'identity_value') }}
            else {{ keyed_hash('tenant_id', 'phone', 'identity_value') }}
        end as subject_key,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as crm_contact_id,
        false as is_resolved
    from unresolved
)

select * from final
