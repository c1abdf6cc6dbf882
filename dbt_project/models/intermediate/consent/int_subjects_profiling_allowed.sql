-- Whether each subject may be profiled (scored by the withdrawal-risk model): never when they object
-- to profiling (HasOptedOutProfiling), have restricted processing, or asked to be forgotten.
with

subjects as (
    select * from {{ ref('int_subjects_resolved') }}
),

flags as (
    select * from {{ ref('int_consent_subject_flags') }}
),

all_subjects as (
    select distinct tenant_id, subject_key from subjects
),

final as (
    select
        all_subjects.tenant_id,
        all_subjects.subject_key,
        case
            when flags.objects_to_profiling then 'objects_to_profiling'
            when flags.is_restricted then 'restricted'
            when flags.erasure_requested then 'erasure_requested'
            else 'allowed'
        end as profiling_reason,
        not coalesce(flags.objects_to_profiling or flags.is_restricted or flags.erasure_requested, false)
            as profiling_allowed
    from all_subjects
    left join flags
        on flags.tenant_id = all_subjects.tenant_id
        and flags.subject_key = all_subjects.subject_key
)

select * from final
