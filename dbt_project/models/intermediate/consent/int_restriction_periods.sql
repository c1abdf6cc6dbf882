-- Every period in which a subject's processing was restricted (GDPR Art. 18), as known at as-of: the CRM's flag
-- (HasOptedOutProcessing) from its Individual's LastModifiedDate, the latest it can have been set, for as long as
-- it is set; a restriction request from its received_at until its restriction_lifted_at (null: it stands; a lift
-- after as-of is not known yet). fct_violations judges processing inside any of them, so processing while a
-- restriction stood stays a violation once it is lifted. int_consent_subject_flags says which stand at as-of.
with

identities as (
    select * from {{ ref('int_consent_subject_identities') }}
),

individuals as (
    select * from {{ ref('stg_salesforce__individuals') }}
),

dsr_requests as (
    select * from {{ ref('int_dsr_requests_resolved') }}
),

crm_periods as (
    select distinct
        identities.tenant_id,
        identities.subject_key,
        'crm_flag' as restricted_by,
        individuals.last_modified_date as restricted_from,
        {{ dbt.cast('null', api.Column.translate_type('timestamp')) }} as restricted_until
    from identities
    inner join individuals
        on individuals.tenant_id = identities.tenant_id
        and individuals.id = identities.individual_id
    where individuals.has_opted_out_processing
),

request_periods as (
    select distinct
        tenant_id,
        subject_key,
        'dsr_request' as restricted_by,
        received_at as restricted_from,
        case when restriction_lifted_at <= {{ as_of() }} then restriction_lifted_at end as restricted_until
    from dsr_requests
    where subject_key is not null
        and request_type = 'restriction'
        and received_at <= {{ as_of() }}
),

final as (
    select * from crm_periods
    union all
    select * from request_periods
)

select * from final
