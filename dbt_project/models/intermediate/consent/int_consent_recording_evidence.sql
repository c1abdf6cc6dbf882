-- Recorded calls per subject: whether a recording was made and whether its file is still in the landing zone.
with

contact_records as (
    select * from {{ ref('stg_connect__contact_records') }}
),

recordings as (
    select
        *,
        {{ recording_file('recording_path') }} as recording_file
    from {{ ref('stg_connect__recordings') }}
),

points as (
    select * from {{ ref('int_consent_contact_points') }}
),

recorded_calls as (
    select
        contact_records.tenant_id,
        points.subject_key,
        contact_records.contact_id,
        contact_records.initiation_timestamp as call_started_at,
        contact_records.recording_location,
        {{ recording_file('contact_records.recording_location') }} as recording_file
    from contact_records
    inner join points
        on points.tenant_id = contact_records.tenant_id
        and points.kind = case when contact_records.customer_email is not null then 'email' else 'phone' end
        and points.point_value = {{ contact_record_address_value('contact_records') }}
    where contact_records.recording_location is not null
),

with_file as (
    -- Recording.Location is relative to the tenant folder, or absolute (ending in the relative path).
    select
        recorded_calls.tenant_id,
        recorded_calls.subject_key,
        recorded_calls.contact_id,
        recorded_calls.call_started_at,
        recorded_calls.recording_location,
        max(case when recordings.recording_path is not null then 1 else 0 end) as file_present
    from recorded_calls
    left join recordings
        on recordings.tenant_id = recorded_calls.tenant_id
        and recordings.recording_file = recorded_calls.recording_file
        and (
            recordings.recording_path = recorded_calls.recording_location
            or {{ dbt.right('recorded_calls.recording_location', dbt.length('recordings.recording_path') ~ ' + 1') }}
                = {{ dbt.concat(["'/'", 'recordings.recording_path']) }}
        )
    group by
        recorded_calls.tenant_id,
        recorded_calls.subject_key,
        recorded_calls.contact_id,
        recorded_calls.call_started_at,
        recorded_calls.recording_location
),

final as (
    select
        tenant_id,
        subject_key,
        contact_id,
        call_started_at,
        file_present = 1 as recording_present
    from with_file
)

select * from final
