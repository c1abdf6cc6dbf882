-- Salesforce ContactPointTypeConsent records.
with

source as (
    select * from {{ source('raw', 'crm_consents') }}
),

renamed as (
    select
        tenant_id,
        id,
        party_id,
        contact_point_type,
        data_use_purpose_id,
        privacy_consent_status,
        capture_date,
        capture_source,
        double_consent_capture_date,
        effective_from,
        effective_to,
        last_modified_date,
        capture_method,
        notice_version,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
