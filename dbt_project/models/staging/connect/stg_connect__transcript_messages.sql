-- Amazon Connect chat transcript messages, one row per message.
with

source as (
    select * from {{ source('raw', 'transcripts') }}
),

renamed as (
    select
        tenant_id,
        contact_id,
        message_index,
        participant_role,
        content,
        absolute_time,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
