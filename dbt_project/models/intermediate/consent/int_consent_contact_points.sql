-- The subject of every email address and E.164 phone seen in any source (CRM or unresolved).
with

identity_index as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

final as (
    select
        tenant_id,
        identity_kind as kind,
        identity_value as point_value,
        subject_key,
        is_resolved
    from identity_index
    where identity_kind in ('email', 'phone')
)

select * from final
