{#- The pseudonymous key of one identity: sha256(key:tenant:kind:value), identical to lethe.keys.keyed_hash.
    The key is never in the SQL text: DuckDB reads the `lethe_key` session variable (set by lethe.dbt_plugin),
    Spark substitutes the `lethe.key` session conf (set by lethe.dbt_plugin.configure_spark). -#}
{% macro keyed_hash(tenant_expr, kind, value_expr) -%}
    {%- if kind not in ('contact', 'email', 'phone') -%}
        {{ exceptions.raise_compiler_error("keyed_hash: unknown identity kind '" ~ kind ~ "' (contact, email, phone)") }}
    {%- endif -%}
    {{ return(adapter.dispatch('keyed_hash')(tenant_expr, kind, value_expr)) }}
{%- endmacro %}

{% macro default__keyed_hash(tenant_expr, kind, value_expr) -%}
    sha2(concat({{ lethe_spark_key() }}, ':', {{ tenant_expr }}, ':{{ kind }}:', {{ value_expr }}), 256)
{%- endmacro %}

{% macro duckdb__keyed_hash(tenant_expr, kind, value_expr) -%}
    sha256(getvariable('lethe_key') || ':' || {{ tenant_expr }} || ':{{ kind }}:' || {{ value_expr }})
{%- endmacro %}
