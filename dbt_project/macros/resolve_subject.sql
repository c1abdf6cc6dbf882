{#- Attach a subject to records that name one by identifiers (a DSR request, a legal hold, an Individual):
    one left join on the identity index per identifier, the first match in `by` order wins.
    `by` is a list of (identity_kind, column of `records`) pairs, e.g.
    [('contact', 'crm_contact_id'), ('email', 'subject_email'), ('phone', 'subject_phone')].
    Adds subject_key, subject_crm_contact_id (the subject's anchor Contact Id, null when only an address
    matched), is_subject_resolved (the subject is a CRM subject) and matched_by (the identity kind that
    matched, null when none did). -#}
{% macro resolve_subject(records, identities, by) -%}
    {%- if by | length == 0 -%}
        {{ exceptions.raise_compiler_error("resolve_subject: `by` names no identifier") }}
    {%- endif -%}
    select
        {{ records }}.*,
        coalesce({% for kind, column in by %}by_{{ kind }}.subject_key{{ ', ' if not loop.last }}{% endfor %}) as subject_key,
        coalesce({% for kind, column in by %}by_{{ kind }}.crm_contact_id{{ ', ' if not loop.last }}{% endfor %}) as subject_crm_contact_id,
        coalesce({% for kind, column in by %}by_{{ kind }}.is_resolved{{ ', ' if not loop.last }}{% endfor %}, false) as is_subject_resolved,
        case
            {%- for kind, column in by %}
            when by_{{ kind }}.subject_key is not null then '{{ kind }}'
            {%- endfor %}
        end as matched_by
    from {{ records }}
    {%- for kind, column in by %}
    left join {{ identities }} as by_{{ kind }}
        on by_{{ kind }}.tenant_id = {{ records }}.tenant_id
        and by_{{ kind }}.identity_kind = '{{ kind }}'
        and by_{{ kind }}.identity_value = {{ records }}.{{ column }}
    {%- endfor %}
{%- endmacro %}
