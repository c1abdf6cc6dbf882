{#- Enforced contracts on Spark: dbt-spark can only ALTER ... SET NOT NULL on Delta tables, so on any
    other file format (Lethe's default: Spark's built-in parquet tables) the `not_null` constraints are
    checked after the table is built instead, and the model fails when a constrained column holds a null. -#}
{% macro spark__persist_constraints(relation, model) %}
  {%- set contract_config = config.get('contract') -%}
  {%- if not contract_config.enforced -%}
    {{ return(none) }}
  {%- endif -%}
  {%- if config.get('file_format') == 'delta' -%}
    {% do alter_table_add_constraints(relation, model.constraints) %}
    {% do alter_column_set_constraints(relation, model.columns) %}
  {%- else -%}
    {% do lethe_check_not_null_constraints(relation, model.columns) %}
  {%- endif -%}
{% endmacro %}
