-- Per subject and active day: the day's counts, running totals and the unopened streak at the day's end,
-- valid until the subject's next active day (next_activity_day), so features at any date are one as-of lookup.
{#- Incremental on DuckDB: a build recomputes the subjects whose engagement events changed since the last
    one (their rows depend on nothing else) and keeps the others: see macros/engagement_refresh.sql. The
    pre-hook deletes, in the same transaction, the rows this build recomputes. A purge's rebuild runs with
    --full-refresh. On Spark it is a plain table. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=(["{{ engagement_daily_delete() }}"] if target.type == 'duckdb' else []),
) }}
-- depends_on: {{ ref('int_withdrawal_events') }}
{%- set dirty = engagement_dirty_subjects(['events']) %}
with

events as (
    select events.*
    from {{ ref('int_engagement_events') }} as events
    {%- if dirty is not none %}
    -- an incremental build: the subjects whose events changed (the pre-hook deleted their rows)
    where (events.tenant_id, events.subject_key) in (select tenant_id, subject_key from ({{ dirty }}))
    {%- endif %}
),

send_open_timeline as (
    -- sends before opens at the same instant: an open resets the streak of every send delivered before it
    select
        tenant_id,
        subject_key,
        activity_day,
        event_kind,
        sum(case when event_kind = 'send' then 1 else 0 end) over (
            partition by tenant_id, subject_key
            order by event_at, case when event_kind = 'open' then 1 else 0 end
            rows between unbounded preceding and current row
        ) as sends_so_far
    from events
    where event_kind in ('send', 'open')
),

open_resets as (
    -- sends delivered up to the day's last open
    select
        tenant_id,
        subject_key,
        activity_day,
        max(sends_so_far) as sends_before_last_open
    from send_open_timeline
    where event_kind = 'open'
    group by tenant_id, subject_key, activity_day
),

days as (
    select
        tenant_id,
        subject_key,
        activity_day,
        sum(case when event_kind = 'send' then 1 else 0 end) as sends,
        sum(case when event_kind = 'open' then 1 else 0 end) as opens,
        sum(case when event_kind = 'click' then 1 else 0 end) as clicks,
        sum(case when event_kind = 'bounce' then 1 else 0 end) as bounces,
        sum(case when event_kind = 'complaint' then 1 else 0 end) as complaints,
        sum(case when event_kind = 'inbound_contact' then 1 else 0 end) as inbound_contacts,
        sum(case when event_kind = 'outbound_contact' then 1 else 0 end) as outbound_contacts,
        sum(case when event_kind = 'negative_contact' then 1 else 0 end) as negative_contacts
    from events
    group by tenant_id, subject_key, activity_day
),

running as (
    select
        days.tenant_id,
        days.subject_key,
        days.activity_day,
        days.sends,
        days.opens,
        {%- for measure in ['sends', 'opens', 'clicks', 'bounces', 'complaints', 'inbound_contacts', 'outbound_contacts', 'negative_contacts'] %}
        sum(days.{{ measure }}) over (
            partition by days.tenant_id, days.subject_key order by days.activity_day
            rows between unbounded preceding and current row
        ) as cum_{{ measure }},
        {%- endfor %}
        max(open_resets.sends_before_last_open) over (
            partition by days.tenant_id, days.subject_key order by days.activity_day
            rows between unbounded preceding and current row
        ) as sends_before_last_open,
        {%- for measure, activity in [('open', 'days.opens'), ('send', 'days.sends'),
                                      ('contact', 'days.inbound_contacts + days.outbound_contacts')] %}
        max(case when {{ activity }} > 0 then days.activity_day end) over (
            partition by days.tenant_id, days.subject_key order by days.activity_day
            rows between unbounded preceding and current row
        ) as last_{{ measure }}_day,
        {%- endfor %}
        min(case when days.sends > 0 then days.activity_day end) over (
            partition by days.tenant_id, days.subject_key
        ) as first_send_day,
        lead(days.activity_day) over (
            partition by days.tenant_id, days.subject_key order by days.activity_day
        ) as next_activity_day
    from days
    left join open_resets
        on open_resets.tenant_id = days.tenant_id
        and open_resets.subject_key = days.subject_key
        and open_resets.activity_day = days.activity_day
),

final as (
    -- counts as bigint: DuckDB's sum() gives a 128-bit integer, which its storage reads ~30x slower than bigint
    -- (int_engagement_features, its history kept across builds, and the risk model read these ~10 M times)
    select
        -- ids
        tenant_id,
        subject_key,
        -- validity: this row describes the subject from the end of activity_day until next_activity_day
        activity_day,
        next_activity_day,
        -- the day
        cast(sends as bigint) as sends,
        cast(opens as bigint) as opens,
        -- running totals
        cast(cum_sends as bigint) as cum_sends,
        cast(cum_opens as bigint) as cum_opens,
        cast(cum_clicks as bigint) as cum_clicks,
        cast(cum_bounces as bigint) as cum_bounces,
        cast(cum_complaints as bigint) as cum_complaints,
        cast(cum_inbound_contacts as bigint) as cum_inbound_contacts,
        cast(cum_outbound_contacts as bigint) as cum_outbound_contacts,
        cast(cum_negative_contacts as bigint) as cum_negative_contacts,
        cast(cum_sends - coalesce(sends_before_last_open, 0) as bigint) as unopened_streak,
        -- recency
        first_send_day,
        last_open_day,
        last_send_day,
        last_contact_day
    from running
)

select * from final
