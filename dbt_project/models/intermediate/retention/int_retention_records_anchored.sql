-- Every record of every data category with its subject and retention anchor (CONTRACT section 3).
-- Refreshed by difference on DuckDB (macros/diff_table.sql). row_inserted_at and row_changed_at say when (UTC) the
-- build that put the row in, or last changed it, ran: fct_retention_status recomputes the rows changed since its last
-- build. A daily build computes only the email events loaded since the last one or whose address changed subject,
-- and every other record, unless raw email events went (macros/retention_anchors_refresh.sql).
{{ config(
    materialized=diff_table_or_table(),
    unique_key=['tenant_id', 'source_table', 'record_id'],
    stamps={'row_inserted_at': 'inserted', 'row_changed_at': 'updated'},
    scope='retention_anchors_scope',
    post_hook=(["{{ retention_anchors_keep_bookkeeping() }}"] if target.type == 'duckdb' else []),
    meta={'bookkeeping_tables': ['intermediate.int_retention_records_anchored_built',
                                 'intermediate.int_retention_records_anchored_emails']},
) }}
{%- set scoped = retention_anchors_scoped() %}

with

contact_records as (
    select * from {{ ref('stg_connect__contact_records') }}
),

transcript_messages as (
    select * from {{ ref('stg_connect__transcript_messages') }}
),

-- the file name keys the join (an equality, so no nested loop over every contact x every file); the
-- full-path rule below then decides
recordings as (
    select
        *,
        {{ recording_file('recording_path') }} as recording_file
    from {{ ref('stg_connect__recordings') }}
),

email_events as (
    select * from {{ ref('stg_sendgrid__email_events') }} as email_events
    {%- if scoped %}
    -- a daily build: the events loaded since the last one and those of addresses whose subject changed (every
    -- event when rows went); the MERGE keeps the others' rows
    where {{ retention_anchors_email_filter() }}
    {%- endif %}
),

contacts as (
    select * from {{ ref('stg_salesforce__contacts') }}
),

individuals as (
    select * from {{ ref('stg_salesforce__individuals') }}
),

consents as (
    select * from {{ ref('stg_salesforce__consents') }}
),

identities as (
    select * from {{ ref('int_subject_identities_resolved') }}
),

-- contact records with the subject of their customer endpoint; a record with no customer address (a TASK, say)
-- that names a CRM contact in its crmContactId attribute belongs to that contact's subject
contact_subjects as (
    select
        contact_records.tenant_id,
        contact_records.contact_id,
        contact_records.ended_at,
        contact_records.recording_location,
        {{ recording_file('contact_records.recording_location') }} as recording_file,
        case
            when contact_records.customer_address is null then by_crm_contact.subject_key
            else identities.subject_key
        end as subject_key
    from contact_records
    left join identities
        on identities.tenant_id = contact_records.tenant_id
        and identities.identity_kind = {{ contact_record_address_kind('contact_records') }}
        and identities.identity_value = {{ contact_record_address_value('contact_records') }}
    left join identities as by_crm_contact
        on by_crm_contact.tenant_id = contact_records.tenant_id
        and by_crm_contact.identity_kind = 'contact'
        and by_crm_contact.identity_value = contact_records.crm_contact_id
),

metadata_records as (
    select
        tenant_id,
        'interaction.metadata' as data_category,
        'contact_records' as source_table,
        contact_id as record_id,
        subject_key,
        ended_at as anchor_at,
        false as is_active_customer
    from contact_subjects
),

-- a recording counts while its file is still in the landing zone; Recording.Location is relative
-- to the tenant folder or absolute (ending in the stored relative path)
recording_records as (
    select distinct
        contact_subjects.tenant_id,
        'interaction.recording' as data_category,
        'recordings' as source_table,
        contact_subjects.contact_id as record_id,
        contact_subjects.subject_key,
        contact_subjects.ended_at as anchor_at,
        false as is_active_customer
    from contact_subjects
    inner join recordings
        on recordings.tenant_id = contact_subjects.tenant_id
        and recordings.recording_file = contact_subjects.recording_file
        and (
            recordings.recording_path = contact_subjects.recording_location
            or {{ dbt.right('contact_subjects.recording_location', dbt.length('recordings.recording_path') ~ ' + 1') }}
                = {{ dbt.concat(["'/'", 'recordings.recording_path']) }}
        )
),

transcripts as (
    select
        tenant_id,
        contact_id,
        max(absolute_time) as last_message_at
    from transcript_messages
    group by tenant_id, contact_id
),

transcript_records as (
    select
        transcripts.tenant_id,
        'interaction.transcript' as data_category,
        'transcripts' as source_table,
        transcripts.contact_id as record_id,
        contact_subjects.subject_key,
        coalesce(contact_subjects.ended_at, transcripts.last_message_at) as anchor_at,
        false as is_active_customer
    from transcripts
    left join contact_subjects
        on contact_subjects.tenant_id = transcripts.tenant_id
        and contact_subjects.contact_id = transcripts.contact_id
),

campaign_records as (
    select
        email_events.tenant_id,
        'campaign.event' as data_category,
        'email_events' as source_table,
        email_events.sg_event_id as record_id,
        identities.subject_key,
        email_events.event_at as anchor_at,
        false as is_active_customer
    from email_events
    left join identities
        on identities.tenant_id = email_events.tenant_id
        and identities.identity_kind = 'email'
        and identities.identity_value = email_events.email
),

-- CRM: the later of LastActivityDate and Contract_End_Date__c (LastModifiedDate when both are empty)
contact_anchors as (
    select
        contacts.tenant_id,
        contacts.id,
        contacts.individual_id,
        identities.subject_key,
        coalesce(
            {{ to_timestamp(greatest_nullable('contacts.last_activity_date', 'contacts.contract_end_date')) }},
            contacts.last_modified_date
        ) as anchor_at,
        coalesce(contacts.customer_status = 'active', false) as is_active_customer
    from contacts
    left join identities
        on identities.tenant_id = contacts.tenant_id
        and identities.identity_kind = 'contact'
        and identities.identity_value = contacts.id
),

crm_contact_records as (
    select
        tenant_id,
        'crm.contact' as data_category,
        'crm_contacts' as source_table,
        id as record_id,
        subject_key,
        anchor_at,
        is_active_customer
    from contact_anchors
),

-- an Individual (and its consents) lives as long as the latest of its contacts
individual_anchors as (
    select
        individuals.tenant_id,
        individuals.id as individual_id,
        max(contact_anchors.subject_key) as subject_key,
        coalesce(max(contact_anchors.anchor_at), max(individuals.last_modified_date)) as anchor_at,
        max(case when contact_anchors.is_active_customer then 1 else 0 end) = 1 as is_active_customer
    from individuals
    left join contact_anchors
        on contact_anchors.tenant_id = individuals.tenant_id
        and contact_anchors.individual_id = individuals.id
    group by individuals.tenant_id, individuals.id
),

individual_records as (
    select
        tenant_id,
        'crm.contact' as data_category,
        'crm_individuals' as source_table,
        individual_id as record_id,
        subject_key,
        anchor_at,
        is_active_customer
    from individual_anchors
),

consent_records as (
    select
        consents.tenant_id,
        'crm.contact' as data_category,
        'crm_consents' as source_table,
        consents.id as record_id,
        individual_anchors.subject_key,
        coalesce(individual_anchors.anchor_at, consents.last_modified_date) as anchor_at,
        coalesce(individual_anchors.is_active_customer, false) as is_active_customer
    from consents
    left join individual_anchors
        on individual_anchors.tenant_id = consents.tenant_id
        and individual_anchors.individual_id = consents.party_id
),

unioned as (
    select * from metadata_records
    union all
    select * from recording_records
    union all
    select * from transcript_records
    union all
    select * from campaign_records
    union all
    select * from crm_contact_records
    union all
    select * from individual_records
    union all
    select * from consent_records
),

final as (
    select
        unioned.*,
        {{ build_instant_utc() }} as row_inserted_at,
        {{ build_instant_utc() }} as row_changed_at
    from unioned
)

select * from final
