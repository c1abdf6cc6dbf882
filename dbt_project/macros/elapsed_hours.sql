{#- Whole hours elapsed from one timestamp to another (72 h 59 min is 72), not the hour boundaries crossed
    between them (dbt.datediff's 'hour': 10:59 to 11:01 is 1). -#}
{% macro elapsed_hours(start, end) -%}
    {{ dbt.cast(
        "floor(" ~ dbt.datediff(start, end, 'second') ~ " / 3600)",
        api.Column.translate_type('bigint')
    ) }}
{%- endmacro %}
