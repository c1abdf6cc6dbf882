{#- Why a consent state does or does not count at instant `at_expr`: 'valid' or the first failing rule.
    `recording_ok_expr` says whether a verbal consent's recording is (or was) there as evidence. -#}
{% macro consent_validity_reason(rel, at_expr, recording_ok_expr, refresh_days_expr) -%}
    case
        when {{ rel }}.consent_status is null then 'no_consent'
        when {{ rel }}.consent_status = 'withdrawn' then 'withdrawn'
        when {{ rel }}.consent_status <> 'granted' then 'not_given'
        when {{ rel }}.capture_method = 'pre_ticked_box' then 'pre_ticked_box'
        when {{ rel }}.capture_method = 'implied' then 'implied'
        when {{ rel }}.capture_method is null
            or {{ rel }}.capture_method not in ('explicit_opt_in', 'verbal_recorded')
            or {{ rel }}.capture_date is null
            or {{ rel }}.notice_version is null
            or trim({{ rel }}.notice_version) = '' then 'defective_evidence'
        when {{ rel }}.capture_method = 'verbal_recorded' and not ({{ recording_ok_expr }}) then 'recording_missing'
        when {{ rel }}.effective_from is not null and {{ rel }}.effective_from > {{ at_expr }} then 'not_yet_effective'
        when {{ rel }}.effective_to is not null and {{ rel }}.effective_to <= {{ at_expr }} then 'expired'
        when {{ dbt.dateadd('day', refresh_days_expr, rel ~ '.capture_date') }} < {{ at_expr }} then 'renewal_due'
        else 'valid'
    end
{%- endmacro %}
