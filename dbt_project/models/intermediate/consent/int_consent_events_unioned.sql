-- Every consent-relevant event per subject, purpose and channel: Salesforce consents, CRM opt-out
-- flags and SendGrid (un)subscribes, up to as-of. Flags and unsubscribes apply to every marketing purpose.
with

consents as (
    select * from {{ ref('stg_salesforce__consents') }}
),

individuals as (
    select * from {{ ref('stg_salesforce__individuals') }}
),

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }}
),

identities as (
    select * from {{ ref('int_consent_subject_identities') }}
),

points as (
    select * from {{ ref('int_consent_contact_points') }}
),

purposes as (
    select * from {{ ref('int_consent_purposes') }}
),

recording_evidence as (
    select * from {{ ref('int_consent_recording_evidence') }}
),

campaigns as (
    select * from {{ ref('stg_campaigns__campaigns') }}
),

marketing_purposes as (
    select * from purposes where is_marketing
),

channel_map as (
    select 'Email' as contact_point_type, 'email' as channel
    union all select 'Phone', 'phone'
    union all select 'Phone', 'sms'
    union all select 'MailingAddress', 'post'
),

all_channels as (
    select 'email' as channel
    union all select 'phone'
    union all select 'sms'
    union all select 'post'
),

consent_subjects as (
    -- PartyId is an Individual; every contact of that individual is bound by the consent.
    select
        consents.*,
        identities.subject_key
    from consents
    inner join identities
        on identities.tenant_id = consents.tenant_id
        and identities.individual_id = consents.party_id
),

verbal_evidence as (
    -- A verbal consent's recording: the call named in CaptureSource if there is one, else a recorded call of the
    -- subject started in the day up to the capture (the call it was given on). The recording of any other call
    -- (a complaint a year later) is no evidence of it.
    select
        consent_subjects.tenant_id,
        consent_subjects.id as consent_id,
        consent_subjects.subject_key,
        max(case when {{ dbt.position('recording_evidence.contact_id', 'consent_subjects.capture_source') }} > 0
            then 1 else 0 end) as named_call_found,
        max(case when {{ dbt.position('recording_evidence.contact_id', 'consent_subjects.capture_source') }} > 0
            and recording_evidence.recording_present then 1 else 0 end) as named_call_file_present,
        max(case when recording_evidence.call_started_at <= consent_subjects.capture_date
            and recording_evidence.call_started_at >= {{ dbt.dateadd('day', -1, 'consent_subjects.capture_date') }}
            then 1 else 0 end) as capture_call_found,
        max(case when recording_evidence.call_started_at <= consent_subjects.capture_date
            and recording_evidence.call_started_at >= {{ dbt.dateadd('day', -1, 'consent_subjects.capture_date') }}
            and recording_evidence.recording_present then 1 else 0 end) as capture_call_file_present
    from consent_subjects
    left join recording_evidence
        on recording_evidence.tenant_id = consent_subjects.tenant_id
        and recording_evidence.subject_key = consent_subjects.subject_key
    where consent_subjects.capture_method = 'verbal_recorded'
    group by consent_subjects.tenant_id, consent_subjects.id, consent_subjects.subject_key
),

consent_withdrawals as (
    -- When an OptOut record's consent ended: its EffectiveTo, but no later than the record was last modified (an
    -- OptOut whose EffectiveTo lies after as-of was an opt-out when it was delivered, not a grant until then)
    select
        consent_subjects.*,
        case when consent_subjects.last_modified_date < consent_subjects.effective_to
            then consent_subjects.last_modified_date
            else consent_subjects.effective_to end as withdrawn_at
    from consent_subjects
),

consent_versions as (
    -- A record is its current state. An OptOut whose consent ended (withdrawn_at) after its CaptureDate documents a
    -- consent given at capture and withdrawn then: it yields that grant and the withdrawal.
    select
        consent_withdrawals.*,
        coalesce(consent_withdrawals.capture_date, consent_withdrawals.effective_from,
            consent_withdrawals.last_modified_date) as version_at,
        consent_withdrawals.privacy_consent_status as version_status
    from consent_withdrawals
    where not (
        consent_withdrawals.privacy_consent_status = 'OptOut'
        and consent_withdrawals.withdrawn_at is not null
        and consent_withdrawals.capture_date < consent_withdrawals.withdrawn_at
    )
    union all
    select
        consent_withdrawals.*,
        consent_withdrawals.capture_date as version_at,
        'OptIn' as version_status
    from consent_withdrawals
    where consent_withdrawals.privacy_consent_status = 'OptOut'
        and consent_withdrawals.withdrawn_at is not null
        and consent_withdrawals.capture_date < consent_withdrawals.withdrawn_at
    union all
    select
        consent_withdrawals.*,
        consent_withdrawals.withdrawn_at as version_at,
        'OptOut' as version_status
    from consent_withdrawals
    where consent_withdrawals.privacy_consent_status = 'OptOut'
        and consent_withdrawals.withdrawn_at is not null
        and consent_withdrawals.capture_date < consent_withdrawals.withdrawn_at
),

crm_consent_events as (
    select
        consent_subjects.tenant_id,
        consent_subjects.subject_key,
        purposes.purpose_id,
        purposes.purpose_name,
        purposes.is_marketing,
        channel_map.channel,
        consent_subjects.version_at as event_at,
        case consent_subjects.version_status
            when 'OptIn' then 'crm_opt_in'
            when 'OptOut' then 'crm_opt_out'
            else 'crm_not_given'
        end as event_type,
        case consent_subjects.version_status
            when 'OptIn' then 'granted'
            when 'OptOut' then 'withdrawn'
            else 'not_given'
        end as consent_status,
        false as is_sticky,
        'salesforce.ContactPointTypeConsent' as source_system,
        case when consent_subjects.version_status = consent_subjects.privacy_consent_status
            then consent_subjects.id
            else {{ dbt.concat(['consent_subjects.id', "':opt_in'"]) }} end as source_id,
        {{ dbt.cast('null', api.Column.translate_type('integer')) }} as asm_group_id,
        consent_subjects.id as consent_id,
        consent_subjects.capture_method,
        consent_subjects.capture_date,
        consent_subjects.capture_source,
        consent_subjects.notice_version,
        consent_subjects.effective_from,
        case when consent_subjects.version_status = 'OptIn' and consent_subjects.privacy_consent_status = 'OptOut'
            then {{ dbt.cast('null', api.Column.translate_type('timestamp')) }}
            else consent_subjects.effective_to end as effective_to,
        case when verbal_evidence.named_call_found = 1 then true
            else coalesce(verbal_evidence.capture_call_found = 1, false)
        end as recording_referenced,
        case when verbal_evidence.named_call_found = 1 then verbal_evidence.named_call_file_present = 1
            else coalesce(verbal_evidence.capture_call_file_present = 1, false)
        end as recording_present
    from consent_versions as consent_subjects
    inner join purposes
        on purposes.tenant_id = consent_subjects.tenant_id
        and purposes.purpose_id = consent_subjects.data_use_purpose_id
    inner join channel_map
        on channel_map.contact_point_type = consent_subjects.contact_point_type
    left join verbal_evidence
        on verbal_evidence.tenant_id = consent_subjects.tenant_id
        and verbal_evidence.consent_id = consent_subjects.id
        and verbal_evidence.subject_key = consent_subjects.subject_key
),

flag_withdrawals as (
    -- Opt-out flags are the CRM's present state; LastModifiedDate is the latest they can have been set. A record
    -- modified after as-of (a CRM export newer than the day judged, a backfill) still shows the flag set: it
    -- counts from as-of at the latest, never dropped as a future event (that would mail someone who opted out).
    select tenant_id, subject_key, 'email' as channel,
        case when contact_modified_at > {{ as_of() }}
            then {{ as_of() }} else contact_modified_at end as event_at,
        'crm_has_opted_out_of_email' as event_type, crm_contact_id as source_id,
        'salesforce.Contact' as source_system
    from identities where has_opted_out_of_email
    union all
    select tenant_id, subject_key, 'phone' as channel,
        case when contact_modified_at > {{ as_of() }} then {{ as_of() }} else contact_modified_at end
            as event_at,
        'crm_do_not_call' as event_type, crm_contact_id as source_id,
        'salesforce.Contact' as source_system
    from identities where do_not_call
    union all
    select identities.tenant_id, identities.subject_key, all_channels.channel,
        case when individuals.last_modified_date > {{ as_of() }} then {{ as_of() }}
            else individuals.last_modified_date end as event_at,
        'crm_has_opted_out_solicit' as event_type, individuals.id as source_id,
        'salesforce.Individual' as source_system
    from identities
    inner join individuals
        on individuals.tenant_id = identities.tenant_id
        and individuals.id = identities.individual_id
    cross join all_channels
    where individuals.has_opted_out_solicit
),

group_purposes as (
    -- every purpose a SendGrid suppression group (ASM group) carries: those of the campaigns sent in it by as-of
    select distinct
        email_events.tenant_id,
        email_events.asm_group_id,
        group_campaign_purposes.purpose_id
    from email_events
    inner join campaigns as group_campaigns
        on group_campaigns.tenant_id = email_events.tenant_id
        and group_campaigns.campaign_id = email_events.campaign_id
    inner join purposes as group_campaign_purposes
        on group_campaign_purposes.tenant_id = group_campaigns.tenant_id
        and group_campaign_purposes.purpose_name_key = lower(trim(group_campaigns.purpose))
    where email_events.asm_group_id is not null
        and email_events.event in ('processed', 'delivered')
        and email_events.event_at <= {{ as_of() }}
),

sendgrid_events as (
    select
        email_events.tenant_id,
        points.subject_key,
        'email' as channel,
        email_events.event_at,
        {{ dbt.concat(["'sendgrid_'", 'email_events.event']) }} as event_type,
        email_events.sg_event_id as source_id,
        email_events.asm_group_id,
        case when email_events.event = 'group_resubscribe' then 'granted' else 'withdrawn' end as consent_status,
        -- a group (un)subscribe concerns every purpose its group carries (else the purpose of the campaign it came
        -- from); the rest, and a group nothing was sent in, every marketing purpose
        case when email_events.event in ('group_unsubscribe', 'group_resubscribe')
            then coalesce(group_purposes.purpose_id, campaign_purposes.purpose_id)
        end as scoped_purpose_id
    from email_events
    inner join points
        on points.tenant_id = email_events.tenant_id
        and points.kind = 'email'
        and points.point_value = email_events.email
    left join campaigns
        on campaigns.tenant_id = email_events.tenant_id
        and campaigns.campaign_id = email_events.campaign_id
    left join purposes as campaign_purposes
        on campaign_purposes.tenant_id = campaigns.tenant_id
        and campaign_purposes.purpose_name_key = lower(trim(campaigns.purpose))
    left join group_purposes
        on group_purposes.tenant_id = email_events.tenant_id
        and group_purposes.asm_group_id = email_events.asm_group_id
        and email_events.event in ('group_unsubscribe', 'group_resubscribe')
    where email_events.event in ('unsubscribe', 'group_unsubscribe', 'spamreport', 'group_resubscribe')
),

marketing_events as (
    select
        flag_withdrawals.tenant_id,
        flag_withdrawals.subject_key,
        marketing_purposes.purpose_id,
        marketing_purposes.purpose_name,
        marketing_purposes.is_marketing,
        flag_withdrawals.channel,
        flag_withdrawals.event_at,
        flag_withdrawals.event_type,
        'withdrawn' as consent_status,
        true as is_sticky,
        flag_withdrawals.source_system,
        flag_withdrawals.source_id,
        {{ dbt.cast('null', api.Column.translate_type('integer')) }} as asm_group_id
    from flag_withdrawals
    inner join marketing_purposes
        on marketing_purposes.tenant_id = flag_withdrawals.tenant_id
    union all
    select
        sendgrid_events.tenant_id,
        sendgrid_events.subject_key,
        marketing_purposes.purpose_id,
        marketing_purposes.purpose_name,
        marketing_purposes.is_marketing,
        sendgrid_events.channel,
        sendgrid_events.event_at,
        sendgrid_events.event_type,
        sendgrid_events.consent_status,
        false as is_sticky,
        'sendgrid.event' as source_system,
        sendgrid_events.source_id,
        sendgrid_events.asm_group_id
    from sendgrid_events
    inner join purposes as marketing_purposes
        on marketing_purposes.tenant_id = sendgrid_events.tenant_id
        and (
            marketing_purposes.purpose_id = sendgrid_events.scoped_purpose_id
            or (sendgrid_events.scoped_purpose_id is null and marketing_purposes.is_marketing)
        )
),

unioned as (
    select * from crm_consent_events
    union all
    select
        marketing_events.*,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as consent_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as capture_method,
        {{ dbt.cast('null', api.Column.translate_type('timestamp')) }} as capture_date,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as capture_source,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as notice_version,
        {{ dbt.cast('null', api.Column.translate_type('timestamp')) }} as effective_from,
        {{ dbt.cast('null', api.Column.translate_type('timestamp')) }} as effective_to,
        false as recording_referenced,
        false as recording_present
    from marketing_events
),

final as (
    select *
    from unioned
    where event_at is not null
        and event_at <= {{ as_of() }}
)

select * from final
