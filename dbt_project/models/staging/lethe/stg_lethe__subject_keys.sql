-- The subject key each CRM Individual was first given (int_subject_identities_resolved keeps it; see its post-hook),
-- so that a person keeps their key when the contact it was derived from is retired.
with

source as (
    select * from {{ source('lethe_meta', 'subject_keys') }}
),

renamed as (
    select
        -- ids
        tenant_id,
        individual_id,
        subject_key,
        -- timestamps
        kept_since
    from source
)

select * from renamed
