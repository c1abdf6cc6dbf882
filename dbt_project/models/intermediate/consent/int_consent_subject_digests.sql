-- Per subject, a hash and the count of their int_consent_events_unioned rows as they stood at the last build
-- of int_consents_resolved: its next incremental build recomputes the subjects whose digest changed
-- (macros/subject_refresh.sql). Built after it on purpose (depends_on below), so that it still reads the
-- previous digests. DuckDB only: on Spark the ledger is a table rebuilt in full.
-- depends_on: {{ ref('int_consents_resolved') }}
{{ config(enabled=(target.type == 'duckdb')) }}

{{ subject_rows_digest(ref('int_consent_events_unioned')) }}
