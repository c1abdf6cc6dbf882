-- The withdrawal-risk model's input: engagement features of subjects who may be profiled. Subjects who
-- object to profiling (HasOptedOutProfiling), are restricted or asked to be forgotten are never in it.
-- A view: the features' weekly history is kept incrementally, and a profiling objection takes effect on it
-- at once, without copying ~4.5 M rows each build.
{{ config(materialized='view') }}
with

features as (
    select * from {{ ref('int_engagement_features') }}
),

profiling as (
    select * from {{ ref('int_subjects_profiling_allowed') }}
),

final as (
    select features.*
    from features
    inner join profiling
        on profiling.tenant_id = features.tenant_id
        and profiling.subject_key = features.subject_key
    where profiling.profiling_allowed
)

select * from final
