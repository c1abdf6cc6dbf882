-- Email-marketing withdrawals and re-grants per subject up to as-of, as the consent ledger yields them
-- (SendGrid unsubscribe / group_unsubscribe / spamreport, CRM OptOut, HasOptedOutOfEmail; re-consent, resubscribe).
with

ledger as (
    select * from {{ ref('int_consents_resolved') }}
),

subjects as (
    select * from {{ ref('int_subjects_resolved') }}
),

email_status_changes as (
    select
        ledger.tenant_id,
        ledger.subject_key,
        ledger.valid_from as event_at,
        ledger.consent_status = 'withdrawn' as is_withdrawal,
        ledger.event_type
    from ledger
    inner join subjects
        on subjects.tenant_id = ledger.tenant_id
        and subjects.subject_key = ledger.subject_key
    where ledger.channel = 'email'
        and ledger.consent_status in ('withdrawn', 'granted')
        and subjects.is_resolved
        and ledger.valid_from <= {{ as_of() }}
),

final as (
    select
        -- ids
        tenant_id,
        subject_key,
        -- change
        event_at,
        is_withdrawal,
        min(event_type) as event_type
    from email_status_changes
    group by tenant_id, subject_key, event_at, is_withdrawal
)

select * from final
