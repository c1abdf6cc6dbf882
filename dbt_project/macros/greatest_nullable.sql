{#- The later of two values, ignoring nulls (null only when both are null). -#}
{% macro greatest_nullable(a, b) -%}
    case
        when {{ a }} is null then {{ b }}
        when {{ b }} is null then {{ a }}
        when {{ a }} >= {{ b }} then {{ a }}
        else {{ b }}
    end
{%- endmacro %}
