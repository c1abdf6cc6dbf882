-- Every marketing contact made, up to as-of: emails of marketing campaigns (one per message,
-- when first processed or delivered) and outbound calls whose Attributes (campaignId) name a marketing campaign.
with

first_sends as (
    select * from {{ ref('int_email_messages_first_sent') }}
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
        purposes.purpose_name,
        purposes.is_profiling
    from campaigns
    inner join purposes
        on purposes.tenant_id = campaigns.tenant_id
        and purposes.purpose_name_key = lower(trim(campaigns.purpose))
    where purposes.is_marketing
),

email_touches as (
    select
        first_sends.tenant_id,
        points.subject_key,
        'email' as channel,
        marketing_campaigns.purpose_id,
        marketing_campaigns.purpose_name,
        marketing_campaigns.is_profiling,
        first_sends.campaign_id,
        first_sends.sent_at as touched_at,
        'email_events' as source_table,
        first_sends.sg_event_id as record_id,
        first_sends.sg_message_id as message_id
    from first_sends
    inner join marketing_campaigns
        on marketing_campaigns.tenant_id = first_sends.tenant_id
        and marketing_campaigns.campaign_id = first_sends.campaign_id
    inner join points
        on points.tenant_id = first_sends.tenant_id
        and points.kind = 'email'
        and points.point_value = first_sends.email
),

campaign_calls as (
    select
        contact_records.*,
        coalesce({{ consent_json_value('contact_records.attributes', 'campaignId') }}, {{ consent_json_value('contact_records.attributes', 'campaign_id') }}) as attribute_campaign_id
    from contact_records
    where {{ consent_outbound_call('contact_records.initiation_method') }}
        and contact_records.customer_phone is not null
),

call_touches as (
    select
        campaign_calls.tenant_id,
        points.subject_key,
        'phone' as channel,
        marketing_campaigns.purpose_id,
        marketing_campaigns.purpose_name,
        marketing_campaigns.is_profiling,
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
