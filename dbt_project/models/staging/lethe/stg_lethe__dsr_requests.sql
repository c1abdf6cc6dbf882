-- Data-subject requests received for the tenant.
with

source as (
    select * from {{ source('raw', 'dsr_requests') }}
),

renamed as (
    select
        tenant_id,
        request_id,
        received_at,
        lower(trim(type)) as type,
        crm_contact_id,
        lower(trim(subject_email)) as subject_email,
        subject_phone,
        verified_at,
        extension_notified_at,
        restriction_lifted_at,
        details,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
