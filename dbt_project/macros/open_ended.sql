{% macro open_ended(expr) -%}
    {#- An interval end where null means "still open", as a comparable value: the end, or 9999-12-31.
        Use it in join conditions instead of `(end is null or x < end)`: an OR in a join condition hides
        the range from the planner, and DuckDB falls back to a blockwise nested loop (minutes at 200k
        subjects), where `x < coalesce(end, ...)` is an inequality join it can run as a hash or IE join. -#}
    coalesce({{ expr }}, {{ to_timestamp("'9999-12-31 00:00:00'") }})
{%- endmacro %}
