-- Every marketing contact made, up to as-of: emails of marketing campaigns (one per message,
-- when first processed or delivered) and outbound calls whose Attributes (campaignId) name a marketing campaign.
with

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }}
),

contact_records as (
    select * from {{ ref('stg_connect__contact_records') }}
),

campaigns as (
    select * from {{ ref('stg_campaigns__campaigns') }}
),

purposes as (
    select * from {{ ref('int_consent_purposes') }}
),

points as (
    select * from {{ ref('int_consent_contact_points') }}
),

marketing_campaigns as (
    select
        campaigns.tenant_id,
        campaigns.campaign_id,
        purposes.purpose_id,
        purposes.purpose_name
    from campaigns
    inner join purposes
        on purposes.tenant_id = campaigns.tenant_id
        and purposes.purpose_name_key = lower(trim(campaigns.purpose))
    where purposes.is_marketing
),

sends as (
    select
        email_events.*,
        row_number() over (
            partition by email_events.tenant_id, coalesce(email_events.sg_message_id, email_events.sg_event_id)
            order by email_events.event_at, email_events.sg_event_id
        ) as rank_in_message
    from email_events
    where email_events.event in ('processed', 'delivered')
),

email_touches as (
    select
        sends.tenant_id,
        points.subject_key,
        'email' as channel,
        marketing_campaigns.purpose_id,
        marketing_campaigns.purpose_name,
        sends.campaign_id,
        sends.event_at as touched_at,
        'email_events' as source_table,
        sends.sg_event_id as record_id,
        sends.sg_message_id as message_id
    from sends
    inner join marketing_campaigns
        on marketing_campaigns.tenant_id = sends.tenant_id
        and marketing_campaigns.campaign_id = sends.campaign_id
    inner join points
        on points.tenant_id = sends.tenant_id
        and points.kind = 'email'
        and points.point_value = sends.email
    where sends.rank_in_message = 1
),

campaign_calls as (
    select
        contact_records.*,
        coalesce({{ consent_json_value('contact_records.attributes', 'campaignId') }}, {{ consent_json_value('contact_records.attributes', 'campaign_id') }}) as attribute_campaign_id
    from contact_records
    where contact_records.initiation_method = 'OUTBOUND'
        and contact_records.customer_phone is not null
),

call_touches as (
    select
        campaign_calls.tenant_id,
        points.subject_key,
        'phone' as channel,
        marketing_campaigns.purpose_id,
        marketing_campaigns.purpose_name,
        marketing_campaigns.campaign_id,
        campaign_calls.initiation_timestamp as touched_at,
        'contact_records' as source_table,
        campaign_calls.contact_id as record_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as message_id
    from campaign_calls
    inner join marketing_campaigns
        on marketing_campaigns.tenant_id = campaign_calls.tenant_id
        and marketing_campaigns.campaign_id = campaign_calls.attribute_campaign_id
    inner join points
        on points.tenant_id = campaign_calls.tenant_id
        and points.kind = 'phone'
        and points.point_value = campaign_calls.customer_phone
),

unioned as (
    select * from email_touches
    union all
    select * from call_touches
),

final as (
    select * from unioned where touched_at <= {{ as_of() }}
)

select * from final
