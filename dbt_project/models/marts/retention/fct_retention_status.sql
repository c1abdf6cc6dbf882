-- Every record of every data category at as_of: anchor, due date under the tenant's policy, hold and erasure.
-- Refreshed by difference on DuckDB (macros/diff_table.sql): each day moves days_past_due of every due record,
-- which one UPDATE restamps; the MERGE then only touches records whose due date, hold or due state changed.
{{ config(
    materialized=diff_table_or_table(),
    unique_key=['tenant_id', 'source_table', 'record_id'],
    restamp={'days_past_due': 'retention_days_past_due'}
) }}
with

records as (
    select * from {{ ref('int_retention_records_anchored') }}
),

retention_policy as (
    select * from {{ source('lethe_meta', 'retention_policy') }}
),

legal_holds as (
    select * from {{ ref('int_legal_holds_resolved') }}
),

erasure_requests as (
    select * from {{ ref('int_erasure_requests_resolved') }}
),

-- a hold is open at as_of from its start date through its end date (inclusive; no end = open-ended)
open_holds as (
    select
        tenant_id,
        subject_key,
        count(*) as open_hold_count
    from legal_holds
    where subject_key is not null
        and start_date <= {{ dbt.cast(as_of(), api.Column.translate_type('date')) }}
        and (end_date is null or end_date >= {{ dbt.cast(as_of(), api.Column.translate_type('date')) }})
    group by tenant_id, subject_key
),

erasures as (
    select
        tenant_id,
        subject_key,
        min(requested_at) as erasure_requested_at
    from erasure_requests
    group by tenant_id, subject_key
),

dated as (
    select
        records.*,
        retention_policy.retention_days,
        case
            when records.anchor_at is null or records.is_active_customer then null
            else {{ dbt.dateadd('day', 'retention_policy.retention_days', 'records.anchor_at') }}
        end as retention_due_at,
        erasures.erasure_requested_at,
        coalesce(open_holds.open_hold_count, 0) > 0 as is_held
    from records
    left join retention_policy
        on retention_policy.tenant_id = records.tenant_id
        and retention_policy.data_category = records.data_category
    left join erasures
        on erasures.tenant_id = records.tenant_id
        and erasures.subject_key = records.subject_key
    left join open_holds
        on open_holds.tenant_id = records.tenant_id
        and open_holds.subject_key = records.subject_key
),

judged as (
    select
        dated.*,
        case when erasure_requested_at is not null then erasure_requested_at else retention_due_at end as due_at,
        case when erasure_requested_at is not null then 'erasure_request' else 'retention_expired' end as reason
    from dated
),

final as (
    select
        -- ids
        tenant_id,
        data_category,
        source_table,
        record_id,
        subject_key,
        -- retention
        retention_days,
        is_active_customer,
        erasure_requested_at is not null as is_erasure_requested,
        is_held,
        reason,
        -- timestamps
        anchor_at,
        due_at,
        -- judgement at as_of
        coalesce(due_at <= {{ as_of() }} and not is_held, false) as is_due,
        {{ retention_days_past_due() }} as days_past_due
    from judged
)

select * from final
