{#- The instant the build's transaction started, in UTC whatever the session's time zone (a lineage stamp). -#}
{% macro build_instant_utc() -%}
    {%- if target.type == 'duckdb' -%}
        cast(timezone('UTC', now()) as timestamp)
    {%- else -%}
        {{ dbt.cast(dbt.current_timestamp(), api.Column.translate_type('timestamp')) }}
    {%- endif -%}
{%- endmacro %}
