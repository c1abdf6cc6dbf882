-- Salesforce Contacts, latest LastModifiedDate per Id.
with

source as (
    select * from {{ source('raw', 'crm_contacts') }}
),

renamed as (
    select
        -- ids
        tenant_id,
        id,
        individual_id,
        -- pii
        first_name,
        last_name,
        lower(trim(email)) as email,
        phone,
        mobile_phone,
        mailing_street,
        mailing_city,
        mailing_postal_code,
        mailing_country,
        birthdate,
        -- preferences
        has_opted_out_of_email,
        do_not_call,
        -- timestamps
        created_date,
        last_modified_date,
        last_activity_date,
        lower(trim(customer_status)) as customer_status,
        contract_end_date,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
