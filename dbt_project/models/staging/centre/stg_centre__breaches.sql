-- The centre's personal-data breach register.
with

source as (
    select * from {{ source('raw', 'breaches') }}
),

renamed as (
    select
        breach_id,
        tenant_id,
        detected_at,
        description,
        data_categories,
        subjects_affected,
        authority_notified_at,
        subjects_notified_at,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
