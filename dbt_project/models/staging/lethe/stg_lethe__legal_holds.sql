-- Legal holds on data subjects (end_date null = open-ended).
with

source as (
    select * from {{ source('raw', 'legal_holds') }}
),

renamed as (
    select
        tenant_id,
        hold_id,
        crm_contact_id,
        lower(trim(subject_email)) as subject_email,
        reason,
        start_date,
        end_date,
        -- load metadata
        _loaded_at as loaded_at
    from source
)

select * from renamed
