-- How long due records have waited past their due date, per tenant and category (dashboard).
with

due as (
    select * from {{ ref('retention_due') }}
),

bucketed as (
    select
        tenant_id,
        data_category,
        case
            when days_past_due < 7 then '0-6 days'
            when days_past_due < 30 then '7-29 days'
            when days_past_due < 90 then '30-89 days'
            when days_past_due < 365 then '90-364 days'
            else '365+ days'
        end as age_bucket,
        case
            when days_past_due < 7 then 1
            when days_past_due < 30 then 2
            when days_past_due < 90 then 3
            when days_past_due < 365 then 4
            else 5
        end as age_bucket_order,
        days_past_due
    from due
),

final as (
    select
        tenant_id,
        data_category,
        age_bucket,
        age_bucket_order,
        count(*) as record_count,
        max(days_past_due) as max_days_past_due
    from bucketed
    group by tenant_id, data_category, age_bucket, age_bucket_order
)

select * from final
