-- Per subject, what forbids contacting or profiling them: restriction, objection, erasure, do-not-call.
-- From the CRM's present flags (dated by LastModifiedDate, the latest they can have been set) and
-- from data-subject requests received up to as-of (dated by received_at). A restriction stands at as-of while
-- one of its int_restriction_periods is open (that model alone says when one is lifted, GDPR Art. 18(3)), dated by
-- the earliest of them.
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

restriction_periods as (
    select * from {{ ref('int_restriction_periods') }}
),

crm_flags as (
    select
        identities.tenant_id,
        identities.subject_key,
        coalesce(individuals.has_opted_out_profiling, false) as objects_to_profiling,
        case when individuals.has_opted_out_profiling then individuals.last_modified_date end as profiling_objection_at,
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
    -- a request names a contact id, an email or a phone; int_dsr_requests_resolved found its subject
    -- (the same match the erasure ledger and the DSR mart use)
    select
        tenant_id,
        subject_key,
        request_type as type,
        received_at
    from dsr_requests
    where subject_key is not null
        and request_type in ('erasure', 'restriction', 'objection')
        and received_at <= {{ as_of() }}
),

dsr_flags as (
    select
        tenant_id,
        subject_key,
        type = 'objection' as objects_to_profiling,
        case when type = 'objection' then received_at end as profiling_objection_at,
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

flags as (
    select
        tenant_id,
        subject_key,
        max(case when objects_to_profiling then 1 else 0 end) = 1 as objects_to_profiling,
        min(profiling_objection_at) as profiling_objection_at,
        max(case when objects_to_marketing then 1 else 0 end) = 1 as objects_to_marketing,
        max(case when erasure_requested then 1 else 0 end) = 1 as erasure_requested,
        max(case when do_not_call then 1 else 0 end) = 1 as do_not_call,
        min(do_not_call_at) as do_not_call_at
    from unioned
    group by tenant_id, subject_key
),

standing_restrictions as (
    select
        tenant_id,
        subject_key,
        min(restricted_from) as restricted_at
    from restriction_periods
    where restricted_until is null
    group by tenant_id, subject_key
),

final as (
    select
        flags.tenant_id,
        flags.subject_key,
        standing_restrictions.subject_key is not null as is_restricted,
        standing_restrictions.restricted_at,
        flags.objects_to_profiling,
        flags.profiling_objection_at,
        flags.objects_to_marketing,
        flags.erasure_requested,
        flags.do_not_call,
        flags.do_not_call_at
    from flags
    left join standing_restrictions
        on standing_restrictions.tenant_id = flags.tenant_id
        and standing_restrictions.subject_key = flags.subject_key
)

select * from final
