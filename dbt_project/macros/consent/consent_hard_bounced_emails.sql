{#- The addresses SendGrid could not deliver to for good by as-of: `bounce` events of type bounce (a `blocked`
    one is temporary). `email_events` names the relation (a CTE) of stg_sendgrid__email_events rows. -#}
{% macro consent_hard_bounced_emails(email_events) -%}
    select distinct tenant_id, email
    from {{ email_events }}
    where event = 'bounce'
        and coalesce(bounce_type, 'bounce') = 'bounce'
        and event_at <= {{ as_of() }}
{%- endmacro %}
