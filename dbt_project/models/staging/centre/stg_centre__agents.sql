-- The centre's agents and their GDPR training, per tenant they serve.
with

source as (
    select * from {{ source('raw', 'agents') }}
),

renamed as (
    select
        agent_username,
        tenant_id,
        training_completed_at,
        exam_score,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
