-- DataUsePurposes per tenant, with whether each is direct marketing and whether it profiles the subject.
with

purposes as (
    select * from {{ ref('stg_salesforce__purposes') }}
),

final as (
    select
        -- ids
        tenant_id,
        id as purpose_id,
        -- attributes
        name as purpose_name,
        lower(trim(name)) as purpose_name_key,
        {{ consent_is_marketing('name', 'description') }} as is_marketing,
        {{ consent_is_marketing('name', 'description', 'consent_profiling_keywords',
            ['profiling', 'profile', 'personalis', 'personaliz', 'recommend', 'segmentation']) }} as is_profiling
    from purposes
)

select * from final
