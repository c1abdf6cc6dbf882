-- SendGrid Event Webhook events, one per sg_event_id.
with

source as (
    select * from {{ source('raw', 'email_events') }}
),

renamed as (
    select
        tenant_id,
        sg_event_id,
        lower(trim(email)) as email,
        event_at,
        event,
        sg_message_id,
        categories,
        url,
        reason,
        bounce_type,
        asm_group_id,
        campaign_id,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
