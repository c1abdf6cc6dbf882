-- Per subject, hashes of their int_engagement_events and of their int_withdrawal_events rows as they stood
-- at the last build of int_engagement_daily and int_engagement_features: their next incremental builds
-- recompute the subjects whose hashes changed (macros/engagement_refresh.sql). Built after both on purpose
-- (depends_on below), so that they still read the previous hashes. DuckDB only: on Spark both are tables.
-- depends_on: {{ ref('int_engagement_features') }}
{{ config(enabled=(target.type == 'duckdb')) }}

{{ engagement_subject_digest(ref('int_engagement_events'), ref('int_withdrawal_events')) }}
