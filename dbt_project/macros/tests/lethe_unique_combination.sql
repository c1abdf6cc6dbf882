{#- Generic data test: no two rows share the same values of `columns` (a composite key).
    Grouping millions of rows by several text columns is the slow part, so the rows are first grouped by a hash
    of the key; only rows whose hash occurs twice are grouped by the key itself. Equal keys always hash equal,
    so no duplicate is missed, and a hash collision only costs an exact check. -#}
{% test lethe_unique_combination(model, columns) %}
    {%- set key = columns | join(', ') -%}
    with repeated_hashes as (
        select hash({{ key }}) as key_hash
        from {{ model }}
        group by hash({{ key }})
        having count(*) > 1
    )

    select {{ key }}, count(*) as n_rows
    from {{ model }}
    where hash({{ key }}) in (select key_hash from repeated_hashes)
    group by {{ key }}
    having count(*) > 1
{% endtest %}
