{#- The instant every rule is judged at, as a naive UTC timestamp: the `as_of` var (ISO 8601, UTC) when one is
    passed (`--vars`, a unit test's overrides, the Airflow DAG), else the LETHE_DBT_AS_OF environment variable that
    `lethe build` sets. The environment variable is read only when the SQL runs, not while dbt parses the project,
    so a new as-of each day does not make dbt re-parse the whole project the way a changed --vars does. -#}
{% macro as_of() -%}
    {%- set raw = var('as_of') -%}
    {%- if raw is none and execute -%}
        {%- set raw = env_var('LETHE_DBT_AS_OF', '') or none -%}
    {%- endif -%}
    {%- if raw is none and execute -%}
        {{ exceptions.raise_compiler_error("as_of is not set: build through `lethe build`, or pass --vars '{as_of: ...}'") }}
    {%- endif -%}
    {%- set text = (raw | string).replace('T', ' ').replace('Z', '')[:19] -%}
    {{ dbt.cast(dbt.string_literal(text), api.Column.translate_type('timestamp')) }}
{%- endmacro %}
