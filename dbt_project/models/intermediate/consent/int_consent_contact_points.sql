-- One subject per (tenant, kind, value) contact point, to attach email events and calls to a subject.
with

identities as (
    select * from {{ ref('int_consent_subject_identities') }}
),

points as (
    select tenant_id, subject_key, 'email' as kind, email as point_value from identities where email is not null
    union all
    select tenant_id, subject_key, 'phone' as kind, phone as point_value from identities where phone is not null
    union all
    select tenant_id, subject_key, 'phone' as kind, mobile_phone as point_value from identities where mobile_phone is not null
),

ranked as (
    select
        tenant_id,
        kind,
        point_value,
        subject_key,
        row_number() over (partition by tenant_id, kind, point_value order by subject_key) as rank_in_point
    from points
),

final as (
    select tenant_id, kind, point_value, subject_key
    from ranked
    where rank_in_point = 1
)

select * from final
