-- Addresses a Salesforce Contact held before a later version of it changed them (ingest keeps them: the Contact
-- export carries only the current ones). One row per contact and old address, normalised as ingest stores them.
with

source as (
    select * from {{ source('lethe_meta', 'crm_contact_previous_addresses') }}
),

renamed as (
    select
        -- ids
        tenant_id,
        contact_id,
        -- pii
        kind,
        address,
        -- timestamps
        superseded_at
    from source
)

select * from renamed
