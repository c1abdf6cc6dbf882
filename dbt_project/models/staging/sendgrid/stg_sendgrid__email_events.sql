-- SendGrid Event Webhook events, one per sg_event_id.
with

source as (
    select * from {{ source('raw', 'email_events') }}
),

renamed as (
    select
        tenant_id,
        sg_event_id,
        -- lower case and trimmed by ingest (format: email in the data contract; lethe.ingest.normalise), tested
        -- below: not normalised again here, where every model reading ~7 M events per build would pay for it
        email,
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
