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
        -- when each request flag was first seen set (ingest keeps it across later edits of the Individual; a
        -- row loaded before it was kept: its own LastModifiedDate)
        case when should_forget then coalesce(_should_forget_since, last_modified_date) end as should_forget_since,
        case when send_individual_data then coalesce(_send_individual_data_since, last_modified_date) end
            as send_individual_data_since,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
