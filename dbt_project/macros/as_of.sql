{#- The instant every rule is judged at: the `as_of` var (ISO 8601, UTC) as a naive UTC timestamp. -#}
{% macro as_of() -%}
    {%- set raw = var('as_of') -%}
    {%- if raw is none and execute -%}
        {{ exceptions.raise_compiler_error("var 'as_of' is not set: build through `lethe build` or pass --vars '{as_of: ...}'") }}
    {%- endif -%}
    {%- set text = (raw | string).replace('T', ' ').replace('Z', '')[:19] -%}
    {{ dbt.cast(dbt.string_literal(text), api.Column.translate_type('timestamp')) }}
{%- endmacro %}
