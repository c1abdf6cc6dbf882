-- Per subject, what forbids contacting or profiling them: restriction, objection, erasure, do-not-call.
-- From the CRM's present flags (dated by LastModifiedDate, the latest they can have been set) and
-- from data-subject requests received up to as-of (dated by received_at).
with

identities as (
    select * from {{ ref('int_consent_subject_identities') }}
),

identity_index as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

individuals as (
    select * from {{ ref('stg_salesforce__individuals') }}
),

dsr_requests as (
    select * from {{ ref('stg_lethe__dsr_requests') }}
),

crm_flags as (
    select
        identities.tenant_id,
        identities.subject_key,
        coalesce(individuals.has_opted_out_processing, false) as is_restricted,
        case when individuals.has_opted_out_processing then individuals.last_modified_date end as restricted_at,
        coalesce(individuals.has_opted_out_profiling, false) as objects_to_profiling,
        false as objects_to_marketing,
        coalesce(individuals.should_forget, false) as erasure_requested,
        coalesce(identities.do_not_call, false) as do_not_call,
        case when identities.do_not_call then identities.contact_modified_at end as do_not_call_at
    from identities
    left join individuals
        on individuals.tenant_id = identities.tenant_id
        and individuals.id = identities.individual_id
),

dsr_subjects as (
    -- a request names a contact id, an email or a phone; each finds its subject in the identity index
    select
        dsr_requests.tenant_id,
        identity_index.subject_key,
        dsr_requests.type,
        dsr_requests.received_at
    from dsr_requests
    inner join identity_index
        on identity_index.tenant_id = dsr_requests.tenant_id
        and (
            (identity_index.identity_kind = 'contact' and identity_index.identity_value = dsr_requests.crm_contact_id)
            or (identity_index.identity_kind = 'email' and identity_index.identity_value = dsr_requests.subject_email)
            or (identity_index.identity_kind = 'phone' and identity_index.identity_value = dsr_requests.subject_phone)
        )
    where dsr_requests.type in ('erasure', 'restriction', 'objection')
        and dsr_requests.received_at <= {{ as_of() }}
),

dsr_flags as (
    select
        tenant_id,
        subject_key,
        type = 'restriction' as is_restricted,
        case when type = 'restriction' then received_at end as restricted_at,
        type = 'objection' as objects_to_profiling,
        type = 'objection' as objects_to_marketing,
        type = 'erasure' as erasure_requested,
        false as do_not_call,
        {{ dbt.cast('null', api.Column.translate_type('timestamp')) }} as do_not_call_at
    from dsr_subjects
),

unioned as (
    select * from crm_flags
    union all
    select * from dsr_flags
),

final as (
    select
        tenant_id,
        subject_key,
        max(case when is_restricted then 1 else 0 end) = 1 as is_restricted,
        min(restricted_at) as restricted_at,
        max(case when objects_to_profiling then 1 else 0 end) = 1 as objects_to_profiling,
        max(case when objects_to_marketing then 1 else 0 end) = 1 as objects_to_marketing,
        max(case when erasure_requested then 1 else 0 end) = 1 as erasure_requested,
        max(case when do_not_call then 1 else 0 end) = 1 as do_not_call,
        min(do_not_call_at) as do_not_call_at
    from unioned
    group by tenant_id, subject_key
)

select * from final
