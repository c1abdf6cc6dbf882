-- Per subject, hashes of their int_engagement_events and of their int_withdrawal_events rows as they stand in
-- this build, computed once: int_engagement_daily and int_engagement_features compare them with
-- int_engagement_subject_digests (the hashes of their last build) to find the subjects they recompute, and
-- int_engagement_subject_digests copies them after both (macros/engagement_refresh.sql).
{{ engagement_subject_digest(ref('int_engagement_events'), ref('int_withdrawal_events')) }}
