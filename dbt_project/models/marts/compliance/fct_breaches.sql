-- Personal-data breaches detected by as_of and the 72-hour clock to notify the supervisory authority.
with

breaches as (
    select * from {{ ref('stg_centre__breaches') }}
),

clocked as (
    select
        breaches.*,
        {{ dbt.dateadd('hour', 72, 'detected_at') }} as notify_deadline_at,
        case
            when authority_notified_at <= {{ as_of() }} then authority_notified_at
        end as notified_at
    from breaches
    where detected_at <= {{ as_of() }}
),

final as (
    select
        -- ids
        breach_id,
        tenant_id,
        -- attributes
        description,
        data_categories,
        subjects_affected,
        -- timestamps
        detected_at,
        notify_deadline_at,
        notified_at as authority_notified_at,
        case when subjects_notified_at <= {{ as_of() }} then subjects_notified_at end as subjects_notified_at,
        -- the 72-hour clock at as_of
        -- whole hours elapsed, as the 72-hour clock counts them (72 h 59 min is 72 and late)
        case when notified_at is not null then {{ elapsed_hours('detected_at', 'notified_at') }} end
            as hours_to_notify,
        coalesce(notified_at <= notify_deadline_at, false) as notified_within_72h,
        notified_at is null as is_open,
        notified_at is null and notify_deadline_at < {{ as_of() }} as is_past_clock,
        case when notified_at is null then {{ elapsed_hours('detected_at', as_of()) }} end
            as hours_open
    from clocked
)

select * from final
