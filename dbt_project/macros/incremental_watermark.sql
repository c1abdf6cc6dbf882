{#- The load watermark of an incremental model: the latest raw `_loaded_at` (staging `loaded_at`) it has
    folded in, as a SQL timestamp literal; rows loaded after it are the new ones. Returns none on a full
    build (no filter: fold everything).

    Safety net for erasure: the model keeps `rows_seen` (how many source rows it folded in) per row. When
    the source now holds a different number of rows loaded at or before the watermark than the model has
    seen, source rows were deleted (a purge or erasure that rebuilt without --full-refresh), replaced, or
    written with an old load time: the model's rows are deleted and everything is folded again, so a
    purged source row never survives here. -#}
{% macro incremental_watermark(source, rows_seen='rows_seen', loaded_at='loaded_at', where='1 = 1') -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set seen = run_query(
        'select max(' ~ loaded_at ~ '), coalesce(sum(' ~ rows_seen ~ '), 0) from ' ~ this
    ).rows[0] -%}
    {%- if seen[0] is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set mark = "cast('" ~ seen[0] ~ "' as timestamp)" -%}
    {%- set present = run_query(
        'select count(*) from ' ~ source ~ ' where ' ~ where ~ ' and ' ~ loaded_at ~ ' <= ' ~ mark
    ).rows[0][0] -%}
    {%- if present != seen[1] -%}
        {{ log(this ~ ': ' ~ source ~ ' holds ' ~ present ~ ' rows loaded by ' ~ seen[0] ~ ', the model folded in '
               ~ seen[1] ~ ' (rows deleted or rewritten since the last build): refolding everything', info=true) }}
        {%- do run_query('delete from ' ~ this) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(mark) }}
{%- endmacro %}
