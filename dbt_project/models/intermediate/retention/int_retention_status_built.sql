-- The latest row_changed_at of int_retention_records_anchored as it stood at the last build of fct_retention_status:
-- its next incremental build recomputes the records whose anchored row changed after it
-- (macros/retention_status_refresh.sql). Built after it on purpose (depends_on below). DuckDB only.
-- depends_on: {{ ref('fct_retention_status') }}
{{ config(enabled=(target.type == 'duckdb')) }}

select max(row_changed_at) as anchored_changed_through
from {{ ref('int_retention_records_anchored') }}
