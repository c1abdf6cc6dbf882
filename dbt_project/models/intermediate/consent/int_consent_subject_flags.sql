-- Per subject, the CRM's present privacy flags: restriction, objection to profiling, erasure, do-not-call.
-- LastModifiedDate is the latest instant a flag can have been set, so it dates the flag.
with

identities as (
    select * from {{ ref('int_consent_subject_identities') }}
),

individuals as (
    select * from {{ ref('stg_salesforce__individuals') }}
),

joined as (
    select
        identities.tenant_id,
        identities.subject_key,
        identities.do_not_call,
        identities.contact_modified_at,
        individuals.has_opted_out_processing,
        individuals.has_opted_out_profiling,
        individuals.has_opted_out_solicit,
        individuals.should_forget,
        individuals.last_modified_date as individual_modified_at
    from identities
    left join individuals
        on individuals.tenant_id = identities.tenant_id
        and individuals.id = identities.individual_id
),

final as (
    select
        tenant_id,
        subject_key,
        max(case when has_opted_out_processing then 1 else 0 end) = 1 as is_restricted,
        min(case when has_opted_out_processing then individual_modified_at end) as restricted_at,
        max(case when has_opted_out_profiling then 1 else 0 end) = 1 as objects_to_profiling,
        max(case when should_forget then 1 else 0 end) = 1 as erasure_requested,
        max(case when do_not_call then 1 else 0 end) = 1 as do_not_call,
        min(case when do_not_call then contact_modified_at end) as do_not_call_at
    from joined
    group by tenant_id, subject_key
)

select * from final
