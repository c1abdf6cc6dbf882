-- Everything due at as_of, per record, that the purge consumes (never a record under an open legal hold).
-- Refreshed by difference on DuckDB (macros/diff_table.sql).
{{ config(
    materialized=diff_table_or_table(),
    unique_key=['tenant_id', 'source_table', 'record_id'],
    restamp={'days_past_due': 'retention_days_past_due'}
) }}
with

status as (
    select * from {{ ref('fct_retention_status') }}
),

final as (
    select
        -- ids
        tenant_id,
        data_category,
        reason,
        -- every category is deleted: recordings as files (record_id = ContactId), CRM rows as rows
        'delete' as action,
        source_table,
        record_id,
        subject_key,
        -- timestamps
        anchor_at,
        due_at,
        days_past_due
    from status
    where is_due
)

select * from final
