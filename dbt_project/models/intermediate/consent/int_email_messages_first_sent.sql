-- The first send (processed or delivered event) of every SendGrid message: the per-message fold over the
-- largest raw table, not judged at as_of and free of identity resolution, so it is kept incrementally.
{#- Incremental on DuckDB: each build folds only the messages with a send loaded (raw._loaded_at) since the
    last build, over all their sends, and replaces their rows (unique_key). GDPR: an incremental table keeps
    rows whose source rows were purged, so every rebuild after a purge or erasure runs with --full-refresh
    (lethe.build.run_build(..., full_refresh=True)); incremental_watermark() also refolds everything when it
    finds source rows gone. On Spark (parquet, no MERGE) it is a plain table: docs/spark.md. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    unique_key=['tenant_id', 'message_id'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

{%- set watermark = incremental_watermark(ref('stg_sendgrid__email_events'), where="event in ('processed', 'delivered')") %}

with

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }}
),

sends as (
    select
        tenant_id,
        coalesce(sg_message_id, sg_event_id) as message_id,
        sg_event_id,
        sg_message_id,
        email,
        campaign_id,
        event_at,
        loaded_at
    from email_events
    where event in ('processed', 'delivered')
),

{% if watermark is not none %}
-- messages with a send loaded since the last build, refolded over all their sends
touched_messages as (
    select distinct tenant_id, message_id
    from sends
    where loaded_at > {{ watermark }}
),

folded_sends as (
    select sends.*
    from sends
    inner join touched_messages
        on touched_messages.tenant_id = sends.tenant_id
        and touched_messages.message_id = sends.message_id
),
{% else %}
folded_sends as (
    select * from sends
),
{% endif %}

ranked as (
    select
        *,
        row_number() over (
            partition by tenant_id, message_id
            order by event_at, sg_event_id
        ) as rank_in_message,
        count(*) over (partition by tenant_id, message_id) as rows_seen,
        max(loaded_at) over (partition by tenant_id, message_id) as last_loaded_at
    from folded_sends
),

final as (
    select
        -- ids
        tenant_id,
        message_id,
        sg_event_id,
        sg_message_id,
        -- pii
        email,
        -- attributes
        campaign_id,
        -- timestamps
        event_at as sent_at,
        -- load metadata
        rows_seen,
        last_loaded_at as loaded_at
    from ranked
    where rank_in_message = 1
)

select * from final
