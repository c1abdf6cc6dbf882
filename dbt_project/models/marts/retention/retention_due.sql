-- Everything due at as_of, per record, that the purge consumes (never a record under an open legal hold).
-- Refreshed by difference on DuckDB (macros/diff_table.sql); a daily build merges only the records the status
-- recomputed (macros/retention_due_refresh.sql).
{{ config(
    materialized=diff_table_or_table(),
    unique_key=['tenant_id', 'source_table', 'record_id'],
    restamp={'days_past_due': 'retention_days_past_due'},
    scope='retention_due_scope',
    post_hook=(["{{ retention_due_keep_bookkeeping() }}"] if target.type == 'duckdb' else []),
    meta={'bookkeeping_tables': ['intermediate.int_retention_due_merged']},
) }}
{%- set scoped = retention_due_scoped() %}
with

status as (
    select * from {{ ref('fct_retention_status') }} as status
    {%- if scoped %}
    -- a daily build: the records the status recomputed (every record when a status build was skipped)
    where {{ retention_due_status_filter() }}
    {%- endif %}
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
