{#- True when `expr` matches the regular expression `pattern` (a Python string, no quotes). -#}
{% macro consent_regex_match(expr, pattern) -%}
    {{ return(adapter.dispatch('consent_regex_match')(expr, pattern)) }}
{%- endmacro %}

{% macro default__consent_regex_match(expr, pattern) -%}
    regexp_like({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__consent_regex_match(expr, pattern) -%}
    regexp_full_match({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__consent_regex_match(expr, pattern) -%}
    {#- rlike finds the pattern anywhere: anchor it so Spark full-matches like DuckDB's regexp_full_match -#}
    ({{ expr }} rlike '^(?:{{ pattern | replace("\\", "\\\\") }})$')
{%- endmacro %}
