-- Contacts handled by an agent without valid GDPR training at the contact time. Agents keep their training
-- history (one row per training completed); each contact is judged against the latest training its agent
-- passed (score 90 or more) at or before it, else the latest one taken: a gap when that training is older than
-- 365 days at the contact or was not passed, when the agent trained only after the contact, or when there is no
-- training record at all. A failed re-sit does not undo a pass that is still valid.
with

contact_records as (
    select * from {{ ref('stg_connect__contact_records') }}
),

agents as (
    select * from {{ ref('stg_centre__agents') }}
),

handled as (
    select
        tenant_id,
        contact_id,
        agent_username,
        channel,
        initiation_timestamp as contacted_at
    from contact_records
    where agent_username is not null
        and initiation_timestamp <= {{ as_of() }}
),

trainings as (
    select
        handled.tenant_id,
        handled.contact_id,
        agents.training_completed_at,
        agents.exam_score,
        agents.training_completed_at <= handled.contacted_at as is_before_contact
    from handled
    inner join agents
        on agents.tenant_id = handled.tenant_id
        and agents.agent_username = handled.agent_username
    where agents.training_completed_at is not null
),

trainings_ranked as (
    select
        trainings.*,
        -- 1 = the latest passed training at or before the contact (else the latest taken), and the first after it
        row_number() over (
            partition by tenant_id, contact_id, is_before_contact
            order by
                case when is_before_contact then coalesce(exam_score >= 90, false) end desc,
                case when is_before_contact then training_completed_at end desc,
                case when not is_before_contact then training_completed_at end asc,
                exam_score desc
        ) as training_rank
    from trainings
),

latest_before as (
    select * from trainings_ranked where is_before_contact and training_rank = 1
),

first_after as (
    select * from trainings_ranked where not is_before_contact and training_rank = 1
),

judged as (
    select
        handled.*,
        -- the training the contact is judged by, else the first one after it
        coalesce(latest_before.training_completed_at, first_after.training_completed_at) as training_completed_at,
        case when latest_before.contact_id is not null then latest_before.exam_score else first_after.exam_score end
            as exam_score,
        case
            when latest_before.contact_id is null and first_after.contact_id is null then 'no_training'
            when latest_before.contact_id is null then 'trained_after_contact'
            when latest_before.exam_score is null or latest_before.exam_score < 90 then 'score_below_90'
            when {{ dbt.dateadd('day', 365, 'latest_before.training_completed_at') }} < handled.contacted_at
                then 'training_expired'
        end as gap_reason
    from handled
    left join latest_before
        on latest_before.tenant_id = handled.tenant_id
        and latest_before.contact_id = handled.contact_id
    left join first_after
        on first_after.tenant_id = handled.tenant_id
        and first_after.contact_id = handled.contact_id
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
