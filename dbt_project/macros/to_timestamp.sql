{#- Cast an expression to the engine's timestamp type (dates become midnight UTC). -#}
{% macro to_timestamp(expr) -%}
    {{ dbt.cast(expr, api.Column.translate_type('timestamp')) }}
{%- endmacro %}
