-- Marketing campaigns of the tenant.
with

source as (
    select * from {{ source('raw', 'campaigns') }}
),

renamed as (
    select
        tenant_id,
        campaign_id,
        name,
        channel,
        purpose,
        started_at,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
