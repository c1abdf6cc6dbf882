{#- Fail the model when a column with a `not_null` contract constraint holds a null (one query for all columns). -#}
{% macro lethe_check_not_null_constraints(relation, column_dict) %}
  {%- set constrained = [] -%}
  {%- for column_name, column in column_dict.items() -%}
    {%- if column['constraints'] | selectattr('type', 'equalto', 'not_null') | list | length > 0 -%}
      {%- do constrained.append(adapter.quote(column_name) if column['quote'] else column_name) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if constrained and execute -%}
    {%- set sql -%}
      select
      {%- for name in constrained %}
        sum(case when {{ name }} is null then 1 else 0 end) as {{ 'n' ~ loop.index }}{{ ',' if not loop.last }}
      {%- endfor %}
      from {{ relation }}
    {%- endset -%}
    {%- set row = run_query(sql).rows[0] -%}
    {%- for name in constrained -%}
      {%- if (row[loop.index0] or 0) > 0 -%}
        {{ exceptions.raise_compiler_error("contract of " ~ relation ~ ": column " ~ name ~ " is constrained not_null but holds " ~ row[loop.index0] ~ " null(s)") }}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
{% endmacro %}
