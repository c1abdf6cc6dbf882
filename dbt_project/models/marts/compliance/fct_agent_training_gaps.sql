-- Contacts handled by an agent without valid GDPR training at the contact time (score under 90,
-- training older than 365 days, completed only after the contact, or no training record at all).
with

contact_records as (
    select * from {{ ref('stg_connect__contact_records') }}
),

agents as (
    select * from {{ ref('stg_centre__agents') }}
),

handled as (
    select
        contact_records.tenant_id,
        contact_records.contact_id,
        contact_records.agent_username,
        contact_records.channel,
        contact_records.initiation_timestamp as contacted_at,
        agents.training_completed_at,
        agents.exam_score,
        agents.agent_username is not null as has_training_record
    from contact_records
    left join agents
        on agents.tenant_id = contact_records.tenant_id
        and agents.agent_username = contact_records.agent_username
    where contact_records.agent_username is not null
        and contact_records.initiation_timestamp <= {{ as_of() }}
),

judged as (
    select
        handled.*,
        case
            when not has_training_record or training_completed_at is null then 'no_training'
            when training_completed_at > contacted_at then 'trained_after_contact'
            when exam_score is null or exam_score < 90 then 'score_below_90'
            when {{ dbt.dateadd('day', 365, 'training_completed_at') }} < contacted_at then 'training_expired'
        end as gap_reason
    from handled
),

final as (
    select
        -- ids
        tenant_id,
        agent_username,
        contact_id,
        -- attributes
        channel,
        gap_reason,
        exam_score,
        -- timestamps
        contacted_at,
        training_completed_at
    from judged
    where gap_reason is not null
)

select * from final
