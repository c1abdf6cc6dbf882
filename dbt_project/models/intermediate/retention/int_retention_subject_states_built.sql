-- Per subject with an open legal hold, an erasure request or a standing restriction at as_of: those states as they
-- stood at the last build of fct_retention_status, whose next incremental build recomputes the records of the
-- subjects whose state changed since (macros/retention_status_refresh.sql). Built after it on purpose (depends_on
-- below), so that it still reads the previous states. DuckDB only: on Spark the table is rebuilt in full.
-- depends_on: {{ ref('fct_retention_status') }}
{{ config(enabled=(target.type == 'duckdb')) }}

{{ retention_subject_states() }}
