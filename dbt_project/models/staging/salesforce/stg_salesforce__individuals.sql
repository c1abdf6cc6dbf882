-- Salesforce Individuals (privacy preferences).
with

source as (
    select * from {{ source('raw', 'crm_individuals') }}
),

renamed as (
    select
        tenant_id,
        id,
        has_opted_out_processing,
        has_opted_out_profiling,
        has_opted_out_solicit,
        should_forget,
        send_individual_data,
        last_modified_date,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
