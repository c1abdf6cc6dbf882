-- Amazon Connect contact trace records, latest LastUpdateTimestamp per ContactId.
with

source as (
    select * from {{ source('raw', 'contact_records') }}
),

renamed as (
    select
        tenant_id,
        contact_id,
        channel,
        initiation_method,
        initiation_timestamp,
        disconnect_timestamp,
        last_update_timestamp,
        coalesce(disconnect_timestamp, initiation_timestamp) as ended_at,
        customer_address,
        customer_address_type,
        case when customer_address_type = 'EMAIL_ADDRESS' then lower(trim(customer_address)) end as customer_email,
        case when customer_address_type = 'TELEPHONE_NUMBER' then customer_address end as customer_phone,
        agent_username,
        queue_name,
        recording_location,
        recording_status,
        attributes,
        -- the CRM Contact Id the contact flow stored in the attribute crmContactId (names the customer of a record
        -- without a customer endpoint, e.g. a TASK)
        {{ json_string_field('attributes', 'crmContactId') }} as crm_contact_id,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
