-- DataUsePurposes per tenant, with whether each is direct marketing.
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
        {{ consent_is_marketing('name', 'description') }} as is_marketing
    from purposes
)

select * from final
