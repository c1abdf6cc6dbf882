-- Every record of every data category at as_of: anchor, due date under the tenant's policy, hold and erasure.
-- A restricted subject's records (GDPR Art. 18: a restriction standing at as_of) are kept past their retention,
-- as storage is all restricted data may undergo; their own erasure request still erases them.
-- Incremental on DuckDB: a daily build recomputes only the records whose anchor, subject state, held address, due
-- state at the new as_of or policy may have changed, and moves days_past_due of the others to the new as_of
-- (macros/retention_status_refresh.sql). On Spark it is a plain table.
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=(["{{ retention_status_keep_scope() }}", "{{ retention_status_delete() }}"]
              if target.type == 'duckdb' else []),
    post_hook=(["{{ retention_status_restamp() }}", "{{ retention_status_keep_bookkeeping('recomputed') }}",
                "{{ retention_status_keep_bookkeeping('subject_states') }}",
                "{{ retention_status_keep_bookkeeping('anchored_through') }}"] if target.type == 'duckdb' else []),
    meta={'bookkeeping_tables': ['intermediate.int_retention_status_subject_states',
                                 'intermediate.int_retention_status_anchored_through',
                                 'intermediate.int_retention_status_recomputed',
                                 'intermediate.int_retention_status_builds']},
) }}
{%- set scoped = retention_status_scoped() %}
with

records as (
    select * from {{ ref('int_retention_records_anchored') }}
    {%- if scoped %}
    -- an incremental build: the records whose row may have changed (the pre-hook deleted them)
    where (tenant_id, source_table, record_id) in (
        select tenant_id, source_table, record_id from {{ retention_status_scope_relation() }}
    )
    {%- endif %}
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

subject_flags as (
    select * from {{ ref('int_consent_subject_flags') }}
),

open_holds as (
    {{ retention_open_holds('legal_holds') }}
),

held_by_address as (
    {{ retention_held_by_address('open_holds') }}
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
        coalesce(open_holds.open_hold_count, 0) > 0 or held_by_address.record_id is not null as is_held,
        coalesce(subject_flags.is_restricted, false) as is_restricted
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
    left join subject_flags
        on subject_flags.tenant_id = records.tenant_id
        and subject_flags.subject_key = records.subject_key
    left join held_by_address
        on held_by_address.tenant_id = records.tenant_id
        and held_by_address.source_table = records.source_table
        and held_by_address.record_id = records.record_id
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
        is_restricted,
        reason,
        -- timestamps
        anchor_at,
        due_at,
        -- judgement at as_of
        coalesce(
            due_at <= {{ as_of() }} and not is_held and not (is_restricted and erasure_requested_at is null), false
        ) as is_due,
        {{ retention_days_past_due() }} as days_past_due
    from judged
)

select * from final
