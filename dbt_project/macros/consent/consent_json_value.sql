{#- The text value of a top-level key of a JSON object held in a string column (null when absent). -#}
{% macro consent_json_value(expr, key) -%}
    {{ return(adapter.dispatch('consent_json_value')(expr, key)) }}
{%- endmacro %}

{% macro default__consent_json_value(expr, key) -%}
    json_extract_path_text({{ expr }}, '{{ key }}')
{%- endmacro %}

{% macro duckdb__consent_json_value(expr, key) -%}
    json_extract_string(try_cast({{ expr }} as json), '$.{{ key }}')
{%- endmacro %}

{% macro spark__consent_json_value(expr, key) -%}
    get_json_object({{ expr }}, '$.{{ key }}')
{%- endmacro %}
