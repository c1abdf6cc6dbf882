-- Every identity seen in any source (Contact Id, Individual Id, email, E.164 phone) mapped to one subject per tenant.
-- CRM contacts sharing an IndividualId are one subject, keyed by the smallest Contact Id of that Individual; an
-- address a contact held before (ingest keeps it) stays with its person unless another contact holds it now;
-- an address that matches no CRM contact becomes an unresolved subject keyed by the address itself.
-- Refreshed by difference on DuckDB (macros/diff_table.sql).
{{ config(materialized=diff_table_or_table(), unique_key=['tenant_id', 'identity_kind', 'identity_value']) }}

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

-- one anchor contact per Individual (or per Contact without an Individual)
contact_groups as (
    select
        tenant_id,
        id as crm_contact_id,
        individual_id,
        email,
        phone,
        mobile_phone,
        last_modified_date,
        min(id) over (partition by tenant_id, coalesce(individual_id, id)) as anchor_contact_id
    from contacts
),

crm_identities as (
    select tenant_id, 'contact' as identity_kind, crm_contact_id as identity_value, anchor_contact_id, last_modified_date,
        true as is_current
    from contact_groups
    union all
    select tenant_id, 'individual' as identity_kind, individual_id as identity_value, anchor_contact_id, last_modified_date,
        true as is_current
    from contact_groups where individual_id is not null
    union all
    select tenant_id, 'email' as identity_kind, email as identity_value, anchor_contact_id, last_modified_date,
        true as is_current
    from contact_groups where email is not null
    union all
    select tenant_id, 'phone' as identity_kind, phone as identity_value, anchor_contact_id, last_modified_date,
        true as is_current
    from contact_groups where phone is not null
    union all
    select tenant_id, 'phone' as identity_kind, mobile_phone as identity_value, anchor_contact_id, last_modified_date,
        true as is_current
    from contact_groups where mobile_phone is not null
    union all
    -- an address the contact held before (an unsubscribe, a call or a mail from it stays the person's)
    select
        previous_addresses.tenant_id,
        previous_addresses.kind as identity_kind,
        previous_addresses.address as identity_value,
        contact_groups.anchor_contact_id,
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
    select tenant_id, identity_kind, identity_value, anchor_contact_id
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
        {{ keyed_hash('tenant_id', 'contact', 'anchor_contact_id') }} as subject_key,
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
