-- Call recording files present in the landing zone.
with

source as (
    select * from {{ source('raw', 'recordings') }}
),

renamed as (
    select
        tenant_id,
        recording_path,
        size_bytes,
        content_sha256,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
