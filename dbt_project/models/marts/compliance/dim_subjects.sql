-- One row per data subject, pseudonymous: the keyed hash, the tenant, and what restricts processing them.
with

subjects as (
    select * from {{ ref('int_subjects_resolved') }}
),

consent_flags as (
    select * from {{ ref('int_consent_subject_flags') }}
),

erasure_requests as (
    select * from {{ ref('int_erasure_requests_resolved') }}
),

legal_holds as (
    select * from {{ ref('int_legal_holds_resolved') }}
),

erasures as (
    select tenant_id, subject_key, min(requested_at) as erasure_requested_at
    from erasure_requests
    group by tenant_id, subject_key
),

open_holds as (
    select tenant_id, subject_key, count(*) as open_hold_count
    from legal_holds
    where subject_key is not null
        and start_date <= {{ dbt.cast(as_of(), api.Column.translate_type('date')) }}
        and (end_date is null or end_date >= {{ dbt.cast(as_of(), api.Column.translate_type('date')) }})
    group by tenant_id, subject_key
),

final as (
    select
        -- ids
        subjects.subject_key,
        subjects.tenant_id,
        -- attributes
        subjects.is_resolved,
        subjects.resolved_by,
        subjects.customer_status,
        -- flags at as_of
        coalesce(consent_flags.is_restricted, false) as is_restricted,
        coalesce(consent_flags.objects_to_profiling, false) as is_objecting,
        erasures.erasure_requested_at is not null as is_erasure_requested,
        coalesce(open_holds.open_hold_count, 0) > 0 as is_under_legal_hold,
        -- timestamps
        erasures.erasure_requested_at
    from subjects
    left join consent_flags
        on consent_flags.tenant_id = subjects.tenant_id
        and consent_flags.subject_key = subjects.subject_key
    left join erasures
        on erasures.tenant_id = subjects.tenant_id
        and erasures.subject_key = subjects.subject_key
    left join open_holds
        on open_holds.tenant_id = subjects.tenant_id
        and open_holds.subject_key = subjects.subject_key
)

select * from final
