-- Current consent per subject, purpose and channel at as-of, with why it does or does not count.
-- Refreshed by difference on DuckDB (macros/diff_table.sql).
{{ config(materialized=diff_table_or_table(), unique_key=['tenant_id', 'subject_key', 'purpose_id', 'channel'], restamp={'as_of': 'as_of'}) }}

with

judged as (
    select * from {{ ref('int_consents_judged') }}
),

final as (
    select
        -- ids
        tenant_id,
        subject_key,
        purpose_id,
        channel,
        -- status
        purpose_name,
        is_marketing,
        consent_status,
        validity_reason,
        is_valid,
        {{ to_timestamp('status_since') }} as status_since,
        last_event_type,
        last_event_source,
        last_event_id,
        -- evidence
        consent_id,
        capture_method,
        {{ to_timestamp('capture_date') }} as capture_date,
        notice_version,
        {{ to_timestamp('effective_to') }} as effective_to,
        recording_present,
        {{ dbt.cast('consent_refresh_days', api.Column.translate_type('integer')) }} as consent_refresh_days,
        {{ to_timestamp('as_of') }} as as_of
    from judged
)

select * from final
