-- Per subject, a hash of their int_engagement_daily and int_withdrawal_events rows as they stood when
-- int_engagement_features was last built: that model's next incremental build recomputes the subjects whose
-- hash changed (macros/engagement_refresh.sql). Built after it on purpose (depends_on below), so that the
-- features build still reads the previous hashes. DuckDB only: on Spark the features are a plain table.
-- depends_on: {{ ref('int_engagement_features') }}
{{ config(enabled=(target.type == 'duckdb')) }}

{{ engagement_subject_digest(ref('int_engagement_daily'), ref('int_withdrawal_events')) }}
