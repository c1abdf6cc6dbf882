-- Legal holds attached to their subject (by Contact Id, else by email), with their date range.
with

legal_holds as (
    select * from {{ ref('stg_lethe__legal_holds') }}
),

identities as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

matched as (
    {{ resolve_subject('legal_holds', 'identities', [
        ('contact', 'crm_contact_id'),
        ('email', 'subject_email'),
    ]) }}
),

final as (
    select
        -- ids
        tenant_id,
        hold_id,
        subject_key,
        -- attributes
        reason,
        -- dates
        start_date,
        end_date
    from matched
)

select * from final
