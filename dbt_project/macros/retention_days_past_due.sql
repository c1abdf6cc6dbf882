{#- Whole days a record is past its due date at as_of (0 until it is due), from its own `due_at` column:
    fct_retention_status and retention_due compute it with this, and restamp the rows a build keeps with it. -#}
{% macro retention_days_past_due() -%}
    {{ dbt.cast(
        "case when due_at <= " ~ as_of() ~ " then " ~ dbt.datediff('due_at', as_of(), 'day') ~ " else 0 end",
        api.Column.translate_type('bigint')
    ) }}
{%- endmacro %}
