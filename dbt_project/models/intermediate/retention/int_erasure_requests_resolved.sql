-- Erasure requests per subject received by as_of: DSR type erasure, or a Salesforce Individual with ShouldForget.
-- A DSR request counts once its requester's identity was verified (verified_at, by as_of): an erasure is final,
-- and one made on an unverified request (anyone can write in claiming to be someone) would destroy another
-- person's data. Until then the request is open in fct_dsr_requests, with its SLA clock running.
with

dsr_requests as (
    select * from {{ ref('int_dsr_requests_resolved') }}
),

individuals as (
    select * from {{ ref('stg_salesforce__individuals') }}
),

identities as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

dsr_erasures as (
    select
        tenant_id,
        subject_key,
        'dsr_request' as requested_via,
        request_id as request_ref,
        -- due from the instant it could be acted on: a purge judged at an as-of between receipt and verification
        -- (a backfill, `lethe purge --as-of`) must not erase for it
        greatest(received_at, verified_at) as requested_at
    from dsr_requests
    where request_type = 'erasure'
        and received_at <= {{ as_of() }}
        and verified_at <= {{ as_of() }}
),

forgetting_individuals as (
    select * from individuals
    where should_forget
        and should_forget_since <= {{ as_of() }}
),

forget_matched as (
    {{ resolve_subject('forgetting_individuals', 'identities', [('individual', 'id')]) }}
),

forget_flags as (
    select
        tenant_id,
        subject_key,
        'should_forget' as requested_via,
        id as request_ref,
        should_forget_since as requested_at  -- when first seen set: a later edit does not put the erasure off
    from forget_matched
),

final as (
    select * from dsr_erasures where subject_key is not null
    union all
    select * from forget_flags where subject_key is not null
)

select * from final
