-- How many people each audience leaves out, and why (one reason per person: the first that applies).
with

assessed as (
    select * from {{ ref('int_audience_members_assessed') }}
),

final as (
    select
        tenant_id,
        purpose_id,
        purpose_name,
        channel,
        audience_reason as exclusion_reason,
        {{ dbt.cast('count(*)', api.Column.translate_type('bigint')) }} as subject_count,
        {{ to_timestamp(as_of()) }} as as_of
    from assessed
    where not is_eligible
    group by tenant_id, purpose_id, purpose_name, channel, audience_reason
)

select * from final
