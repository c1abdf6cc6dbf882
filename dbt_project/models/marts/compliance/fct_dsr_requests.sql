-- Data-subject requests received by as_of: due date (received + dsr_sla_days, two months later when the requester
-- was told in time of an extension, GDPR Art. 12(3)), status and days left. From the
-- DSR files and `lethe dsar`, and from the CRM's Individual flags ShouldForget and SendIndividualData (kept, from
-- Lethe's own record, once processed, when the flag or the Individual is gone).
with

dsr_requests as (
    select * from {{ ref('int_dsr_requests_resolved') }}
),

tenant_policy as (
    select * from {{ source('lethe_meta', 'tenant_policy') }}
),

-- the latest fulfilment of each request: a CRM flag request made again (the flag cleared, then set again) is
-- fulfilled again, and counts only once fulfilled after it was made
fulfilments as (
    select
        tenant_id,
        request_id,
        max(fulfilled_at) as fulfilled_at
    from {{ source('lethe_meta', 'dsr_fulfilments') }}
    group by tenant_id, request_id
),

processed as (
    select * from {{ source('lethe_meta', 'dsr_processed') }}
),

-- subjects keyed by an identity an erasure tombstoned: the subject key is the keyed hash of the identity it is
-- keyed by (a Contact Id, else an email or phone), as a tombstone is
erased_subjects as (
    select distinct tenant_id, identity_hash as subject_key
    from {{ source('lethe_meta', 'tombstones') }}
    where kind in ('contact', 'email', 'phone')
),

identities as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

contacts as (
    select * from {{ ref('stg_salesforce__contacts') }}
),

retention_records as (
    select * from {{ ref('int_retention_records_anchored') }}
),

individuals as (
    select * from {{ ref('stg_salesforce__individuals') }}
),

-- requests made in the CRM: ShouldForget (erasure) and SendIndividualData (access) on an Individual, dated by
-- when the flag was first seen set (a later edit of the Individual does not re-date them) and verified (the
-- controller's own system); the request ids lethe.dsr gives them
flag_requests as (
    select
        tenant_id,
        {{ dbt.concat(["'individual:'", 'id', "':erasure'"]) }} as request_id,
        'erasure' as request_type,
        id as individual_id,
        should_forget_since as received_at
    from individuals
    where should_forget
    union all
    select
        tenant_id,
        {{ dbt.concat(["'individual:'", 'id', "':access'"]) }} as request_id,
        'access' as request_type,
        id as individual_id,
        send_individual_data_since as received_at
    from individuals
    where send_individual_data
),

flag_requests_resolved as (
    {{ resolve_subject('flag_requests', 'identities', [('individual', 'individual_id')]) }}
),

-- a CRM flag request Lethe processed whose flag is gone since: the erasure deleted the Individual, or the CRM
-- cleared SendIndividualData once the data was sent. Its record stays (Art. 5(2)): from lethe_meta.dsr_processed,
-- with no subject left to name
processed_flag_requests as (
    select
        processed.tenant_id,
        processed.request_id,
        processed.type as request_type,
        processed.received_at,
        processed.received_at as verified_at,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as subject_key
    from processed
    where {{ dbt.position("'individual:'", 'processed.request_id') }} = 1
        and processed.received_at is not null
        and not exists (
            select 1 from flag_requests
            where flag_requests.tenant_id = processed.tenant_id
                and flag_requests.request_id = processed.request_id
        )
),

-- is_crm_subject: the request names a CRM person (not only an address); is_identity_tombstoned: an identifier it
-- names was erased
all_requests as (
    select tenant_id, request_id, request_type, received_at, verified_at, subject_key,
        resolution_status = 'resolved' as is_crm_subject, is_identity_tombstoned, extension_notified_at
    from dsr_requests
    union all
    select tenant_id, request_id, request_type, received_at, received_at as verified_at, subject_key,
        subject_key is not null as is_crm_subject, false as is_identity_tombstoned,
        {{ dbt.cast('null', api.Column.translate_type('timestamp')) }} as extension_notified_at
    from flag_requests_resolved
    union all
    select tenant_id, request_id, request_type, received_at, verified_at, subject_key,
        false as is_crm_subject, false as is_identity_tombstoned,
        {{ dbt.cast('null', api.Column.translate_type('timestamp')) }} as extension_notified_at
    from processed_flag_requests
),

sla as (
    select
        all_requests.*,
        {{ dbt.dateadd('day', 'tenant_policy.dsr_sla_days', 'all_requests.received_at') }} as first_due_at
    from all_requests
    left join tenant_policy
        on tenant_policy.tenant_id = all_requests.tenant_id
    where all_requests.received_at <= {{ as_of() }}
),

-- Art. 12(3): the controller may extend the time limit by two further months, telling the requester within the
-- first one. An extension told after the first time limit ran out (its day over, as for the status below), or
-- after as_of, extends nothing
requests as (
    select
        tenant_id,
        request_id,
        request_type as type,
        received_at,
        verified_at,
        subject_key,
        is_crm_subject,
        is_identity_tombstoned,
        extension_notified_at,
        is_extended,
        case
            when is_extended then {{ dbt.dateadd('month', 2, 'first_due_at') }}
            else first_due_at
        end as due_at
    from (
        select
            sla.*,
            coalesce(
                sla.extension_notified_at <= {{ as_of() }}
                and {{ dbt.cast('sla.extension_notified_at', api.Column.translate_type('date')) }}
                    <= {{ dbt.cast('sla.first_due_at', api.Column.translate_type('date')) }},
                false
            ) as is_extended
        from sla
    ) as judged
),

-- evidence of fulfilment, each dated: Lethe's own record, a newer CRM record (rectification),
-- the CRM flag set after the request (restriction, objection), no records left (erasure)
subject_contacts as (
    select
        identities.tenant_id,
        identities.subject_key,
        max(contacts.last_modified_date) as contact_modified_at
    from identities
    inner join contacts
        on contacts.tenant_id = identities.tenant_id
        and contacts.id = identities.identity_value
    where identities.identity_kind = 'contact'
    group by identities.tenant_id, identities.subject_key
),

subject_individual_flags as (
    select
        identities.tenant_id,
        identities.subject_key,
        max(case when individuals.has_opted_out_processing then individuals.last_modified_date end) as restricted_at,
        max(case when individuals.has_opted_out_profiling then individuals.last_modified_date end) as objection_recorded_at
    from identities
    inner join individuals
        on individuals.tenant_id = identities.tenant_id
        and individuals.id = identities.identity_value
    where identities.identity_kind = 'individual'
    group by identities.tenant_id, identities.subject_key
),

subject_records as (
    select tenant_id, subject_key, count(*) as record_count
    from retention_records
    where subject_key is not null
    group by tenant_id, subject_key
),

evidenced as (
    select
        requests.*,
        case
            when fulfilments.fulfilled_at >= requests.received_at then fulfilments.fulfilled_at
            when requests.type = 'rectification' and subject_contacts.contact_modified_at > requests.received_at
                then subject_contacts.contact_modified_at
            when requests.type = 'restriction' and subject_individual_flags.restricted_at > requests.received_at
                then subject_individual_flags.restricted_at
            when requests.type = 'objection' and subject_individual_flags.objection_recorded_at > requests.received_at
                then subject_individual_flags.objection_recorded_at
        end as completed_at,
        -- an erasure asked of someone erased (by this request through the purge, by another request, the CLI):
        -- nothing of them is left and an identity the request names is tombstoned (once the person is gone their
        -- Contact Id names nobody, so the request's own identifiers are checked too). Nothing left of someone never
        -- erased is no fulfilment: that request names nobody Lethe holds, and the requester is still owed an answer.
        -- Nor is the erasure of one of the two people a request named (Lethe found it ambiguous): the requester may
        -- be the other, whose address the erasure blanked from the request; it stays open for the DPO
        requests.type = 'erasure'
            and (erased_subjects.subject_key is not null
                 or (requests.is_identity_tombstoned and requests.verified_at <= {{ as_of() }}
                     and processed.outcome is distinct from 'ambiguous'))
            and coalesce(subject_records.record_count, 0) = 0 as is_erased,
        coalesce(subject_records.record_count, 0) > 0 as has_records,
        processed.outcome as processing_outcome
    from requests
    left join processed
        on processed.tenant_id = requests.tenant_id
        and processed.request_id = requests.request_id
        and (processed.received_at is null or processed.received_at >= requests.received_at)
    left join fulfilments
        on fulfilments.tenant_id = requests.tenant_id
        and fulfilments.request_id = requests.request_id
    left join subject_contacts
        on subject_contacts.tenant_id = requests.tenant_id
        and subject_contacts.subject_key = requests.subject_key
    left join subject_individual_flags
        on subject_individual_flags.tenant_id = requests.tenant_id
        and subject_individual_flags.subject_key = requests.subject_key
    left join subject_records
        on subject_records.tenant_id = requests.tenant_id
        and subject_records.subject_key = requests.subject_key
    left join erased_subjects
        on erased_subjects.tenant_id = requests.tenant_id
        and erased_subjects.subject_key = requests.subject_key
),

final as (
    select
        -- ids
        tenant_id,
        request_id,
        subject_key,
        -- attributes
        type as request_type,
        -- a CRM person, or an address Lethe holds records of (an address known only from the request is nobody)
        is_crm_subject or has_records as is_subject_found,
        -- timestamps
        received_at,
        verified_at,
        due_at,
        is_extended,
        extension_notified_at,
        case when completed_at <= {{ as_of() }} then completed_at end as completed_at,
        -- status at as_of: a time limit in days ends with the last hour of its last day (Regulation 1182/71,
        -- Art. 3), so a request due today is open, with 0 days left, until the day is over
        case
            when completed_at <= {{ as_of() }} or is_erased then 'done'
            when {{ dbt.cast('due_at', api.Column.translate_type('date')) }}
                < {{ dbt.cast(as_of(), api.Column.translate_type('date')) }} then 'overdue'
            else 'open'
        end as status,
        {{ dbt.cast(dbt.datediff(as_of(), 'due_at', 'day'), api.Column.translate_type('bigint')) }} as days_left,
        processing_outcome
    from evidenced
)

select * from final
