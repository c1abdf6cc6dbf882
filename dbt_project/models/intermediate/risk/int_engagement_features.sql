-- Engagement features per subject at weekly snapshot dates and at the as-of day, from activity strictly
-- before the snapshot, labelled by a withdrawal from email marketing in the 30 days from the snapshot on.
-- Only subjects mailed in the 90 days before the snapshot and not withdrawn at it are in the population.
{%- set windowed = ['cum_sends', 'cum_opens', 'cum_clicks', 'cum_bounces', 'cum_inbound_contacts',
                    'cum_outbound_contacts', 'cum_negative_contacts'] %}
{%- set as_of_day = dbt.date_trunc('day', as_of()) %}
{#- Incremental on DuckDB: a build recomputes the snapshots of subjects whose engagement or withdrawals
    changed, and every subject's snapshots whose label window is still open, and keeps the rest (the weekly
    history the risk model trains on): see macros/engagement_refresh.sql. The pre-hook deletes, in the same
    transaction, the rows this build recomputes. A purge's rebuild runs with --full-refresh. On Spark it is
    a plain table. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=(["{{ engagement_refresh_delete() }}"] if target.type == 'duckdb' else []),
) }}
-- depends_on: {{ ref('int_engagement_events') }}
{%- set scope = engagement_refresh_scope() %}
with

daily as (
    select * from {{ ref('int_engagement_daily') }}
),

withdrawals as (
    select * from {{ ref('int_withdrawal_events') }}
),

snapshot_dates as (
    {{ engagement_snapshot_dates(ref('int_engagement_daily')) }}
),

lookups as (
    -- each snapshot reads the running totals as they stood at it, 30 days and 90 days before it
    select snapshot_at, 0 as offset_days, snapshot_at as lookup_at from snapshot_dates
    union all
    select snapshot_at, 30 as offset_days, {{ dbt.dateadd('day', -30, 'snapshot_at') }} as lookup_at from snapshot_dates
    union all
    select snapshot_at, 90 as offset_days, {{ dbt.dateadd('day', -90, 'snapshot_at') }} as lookup_at from snapshot_dates
),

{% if scope is none %}
state_at_lookup as (
    {{ engagement_state_at('lookups') }}
),
{% else %}
dirty_subjects as materialized (
    -- computed once: both branches below read it
    {{ scope.dirty_subjects }}
),

refreshed_lookups as (
    -- every subject's snapshots from the window start on, and dates this table does not hold yet (the
    -- pre-hook has deleted the window's rows)
    select *
    from lookups
    where snapshot_at >= {{ scope.window_start }}
        or snapshot_at not in (select distinct snapshot_at from {{ this }})
),

state_at_lookup as (
    -- as in a full build: the dirty subjects at every snapshot, the others at the refreshed ones
    {%- set subject = '(daily.tenant_id, daily.subject_key)' %}
    {{ engagement_state_at('lookups', subject ~ ' in (select tenant_id, subject_key from dirty_subjects)') }}
    union all
    {{ engagement_state_at('refreshed_lookups', subject ~ ' not in (select tenant_id, subject_key from dirty_subjects)') }}
),
{% endif %}

subject_snapshots as (
    select
        tenant_id,
        subject_key,
        snapshot_at,
        {%- for measure in windowed %}
        max(case when offset_days = 0 then {{ measure }} end) as {{ measure }}_0,
        coalesce(max(case when offset_days = 30 then {{ measure }} end), 0) as {{ measure }}_30,
        coalesce(max(case when offset_days = 90 then {{ measure }} end), 0) as {{ measure }}_90,
        {%- endfor %}
        max(case when offset_days = 0 then cum_complaints end) as complaints_total,
        max(case when offset_days = 0 then unopened_streak end) as unopened_streak,
        max(case when offset_days = 0 then first_send_day end) as first_send_day,
        max(case when offset_days = 0 then last_open_day end) as last_open_day,
        max(case when offset_days = 0 then last_send_day end) as last_send_day,
        max(case when offset_days = 0 then last_contact_day end) as last_contact_day
    from state_at_lookup
    group by tenant_id, subject_key, snapshot_at
),

withdrawal_status as (
    select
        subject_snapshots.tenant_id,
        subject_snapshots.subject_key,
        subject_snapshots.snapshot_at,
        max(case when withdrawals.is_withdrawal and withdrawals.event_at < subject_snapshots.snapshot_at
            then withdrawals.event_at end) as last_withdrawn_at,
        max(case when not withdrawals.is_withdrawal and withdrawals.event_at < subject_snapshots.snapshot_at
            then withdrawals.event_at end) as last_granted_at,
        min(case when withdrawals.is_withdrawal and withdrawals.event_at >= subject_snapshots.snapshot_at
            and withdrawals.event_at < {{ dbt.dateadd('day', 30, 'subject_snapshots.snapshot_at') }}
            then withdrawals.event_at end) as next_withdrawn_at
    from subject_snapshots
    inner join withdrawals
        on withdrawals.tenant_id = subject_snapshots.tenant_id
        and withdrawals.subject_key = subject_snapshots.subject_key
    group by subject_snapshots.tenant_id, subject_snapshots.subject_key, subject_snapshots.snapshot_at
),

windows as (
    select
        subject_snapshots.*,
        cum_sends_0 - cum_sends_30 as sends_30d,
        cum_sends_30 - cum_sends_90 as sends_prior_60d,
        cum_sends_0 - cum_sends_90 as sends_90d,
        cum_opens_0 - cum_opens_30 as opens_30d,
        cum_opens_30 - cum_opens_90 as opens_prior_60d,
        cum_clicks_0 - cum_clicks_30 as clicks_30d,
        cum_clicks_0 - cum_clicks_90 as clicks_90d,
        cum_bounces_0 - cum_bounces_90 as bounces_90d,
        cum_inbound_contacts_0 - cum_inbound_contacts_30 as inbound_contacts_30d,
        cum_inbound_contacts_0 - cum_inbound_contacts_90 as inbound_contacts_90d,
        cum_outbound_contacts_0 - cum_outbound_contacts_30 as outbound_contacts_30d,
        cum_negative_contacts_0 - cum_negative_contacts_90 as negative_contacts_90d,
        withdrawal_status.last_withdrawn_at,
        withdrawal_status.last_granted_at,
        withdrawal_status.next_withdrawn_at
    from subject_snapshots
    left join withdrawal_status
        on withdrawal_status.tenant_id = subject_snapshots.tenant_id
        and withdrawal_status.subject_key = subject_snapshots.subject_key
        and withdrawal_status.snapshot_at = subject_snapshots.snapshot_at
),

population as (
    select *
    from windows
    where sends_90d > 0
        and (last_withdrawn_at is null or last_withdrawn_at < last_granted_at)
),

final as (
    select
        -- ids
        tenant_id,
        subject_key,
        snapshot_at,
        snapshot_at = {{ as_of_day }} as is_scoring_snapshot,
        {{ dbt.dateadd('day', 30, 'snapshot_at') }} <= {{ as_of() }} as label_complete,
        -- email engagement
        sends_30d,
        sends_90d,
        opens_30d,
        opens_prior_60d,
        clicks_30d,
        clicks_90d,
        unopened_streak,
        case when sends_30d > 0 then least(opens_30d * 1.0 / sends_30d, 1.0) end as open_rate_30d,
        case when sends_prior_60d > 0 then least(opens_prior_60d * 1.0 / sends_prior_60d, 1.0) end
            as open_rate_prior_60d,
        case when sends_30d > 0 and sends_prior_60d > 0
            then least(opens_30d * 1.0 / sends_30d, 1.0) - least(opens_prior_60d * 1.0 / sends_prior_60d, 1.0)
        end as open_rate_trend,
        bounces_90d,
        complaints_total,
        -- contact centre
        inbound_contacts_30d,
        inbound_contacts_90d,
        negative_contacts_90d,
        sends_30d + inbound_contacts_30d + outbound_contacts_30d as contact_frequency_30d,
        -- recency (days before the snapshot)
        {{ dbt.datediff('last_open_day', 'snapshot_at', 'day') }} as days_since_last_open,
        {{ dbt.datediff('last_send_day', 'snapshot_at', 'day') }} as days_since_last_send,
        {{ dbt.datediff('last_contact_day', 'snapshot_at', 'day') }} as days_since_last_contact,
        {{ dbt.datediff('first_send_day', 'snapshot_at', 'day') }} as days_since_first_send,
        -- label: withdrawal in [snapshot_at, snapshot_at + 30 days), known only once the window has passed
        case
            when {{ dbt.dateadd('day', 30, 'snapshot_at') }} <= {{ as_of() }} then next_withdrawn_at is not null
        end as withdrew_within_30d,
        case when {{ dbt.dateadd('day', 30, 'snapshot_at') }} <= {{ as_of() }} then next_withdrawn_at end as withdrew_at,
        -- lineage: the as-of of the build that computed this row (an incremental build keeps older rows)
        {{ as_of() }} as computed_as_of
    from population
)

select * from final
