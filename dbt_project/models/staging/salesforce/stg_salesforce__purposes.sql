-- Salesforce DataUsePurposes.
with

source as (
    select * from {{ source('raw', 'crm_purposes') }}
),

renamed as (
    select
        tenant_id,
        id,
        name,
        description,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
