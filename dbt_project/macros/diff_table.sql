{#- diff_table (DuckDB): a table that a build refreshes by difference instead of rewriting it.

    The model is an ordinary SELECT; the first build, `--full-refresh`, and any build whose SELECT no longer gives
    the table's columns (names and types) create the table from it as `table` does. Every other build computes
    the SELECT and, in one transaction, deletes the table's rows that it no longer gives and inserts the rows it
    gives that the table does not hold yet. The table then holds exactly what a full rebuild would, whatever
    changed: new, late or deleted source rows, a new as_of, a changed identity resolution, a purge. A build
    costs computing the SELECT twice and two hash anti-joins, instead of writing every row to disk, so it pays
    for models whose rows mostly stay the same from one day to the next.

    Rows are compared whole (a hash of every column, then every column NULL-safely), so the SELECT must not give
    two identical rows: use it only on models with a unique-key test. A lineage column that holds the build's
    as_of on every row would make every row differ each day: name it in config `as_of_columns` and it is left
    out of the comparison and set to the new as_of on every row after the difference is applied. Spark builds these models as tables
    (materialized=diff_table_or_table()). -#}

{% macro diff_table_or_table() -%}
    {{ return('diff_table' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}

{% macro diff_table_match(columns, left, right) -%}
    hash({% for column in columns %}{{ left }}.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
        = hash({% for column in columns %}{{ right }}.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
    {%- for column in columns %}
        and {{ left }}.{{ column }} is not distinct from {{ right }}.{{ column }}
    {%- endfor %}
{%- endmacro %}

{% materialization diff_table, adapter='duckdb' %}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set grant_config = config.get('grants') -%}
    {%- set query_columns = get_column_schema_from_query(compiled_code) -%}
    {%- set rebuild = existing_relation is none or not existing_relation.is_table or should_full_refresh() -%}
    {%- if not rebuild -%}
        {%- set table_columns = adapter.get_columns_in_relation(existing_relation) -%}
        {%- set wanted = query_columns | map(attribute='name') | map('lower') | list -%}
        {%- set held = table_columns | map(attribute='name') | map('lower') | list -%}
        {%- set wanted_types = query_columns | map(attribute='dtype') | map('lower') | list -%}
        {%- set held_types = table_columns | map(attribute='dtype') | map('lower') | list -%}
        {%- set rebuild = wanted != held or wanted_types != held_types -%}
    {%- endif -%}
    {%- set columns = query_columns | map(attribute='name') | map('lower') | list -%}
    {%- set as_of_columns = config.get('as_of_columns', []) | map('lower') | list -%}
    {%- for column in as_of_columns if column not in columns -%}
        {{ exceptions.raise_compiler_error("diff_table " ~ this ~ ": as_of_columns names " ~ column ~ ", which the model does not give") }}
    {%- endfor -%}
    {%- set quoted = [] -%}
    {%- set compared = [] -%}
    {%- for column in columns -%}
        {%- do quoted.append(adapter.quote(column)) -%}
        {%- if column not in as_of_columns -%}{%- do compared.append(adapter.quote(column)) -%}{%- endif -%}
    {%- endfor -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    -- `BEGIN` happens here:
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% if rebuild %}
        {% if existing_relation is not none %}
            {% do adapter.drop_relation(existing_relation) %}
        {% endif %}
        {% call statement('main') -%}
            {{ create_table_as(False, target_relation, compiled_code) }}
        {%- endcall %}
    {% else %}
        {% call statement('diff_delete', fetch_result=True) -%}
            delete from {{ target_relation }} where rowid in (
                select held.rowid
                from {{ target_relation }} as held
                anti join (
                    {{ compiled_code }}
                ) as wanted
                    on {{ diff_table_match(compared, 'held', 'wanted') }}
            )
        {%- endcall %}
        {% call statement('diff_insert', fetch_result=True) -%}
            insert into {{ target_relation }} ({{ quoted | join(', ') }})
            select {% for column in quoted %}wanted.{{ column }}{{ ', ' if not loop.last }}{% endfor %}
            from (
                {{ compiled_code }}
            ) as wanted
            anti join {{ target_relation }} as held
                on {{ diff_table_match(compared, 'held', 'wanted') }}
        {%- endcall %}
        {% if as_of_columns %}
            {% call statement('diff_restamp') -%}
                update {{ target_relation }} set
                {%- for column in as_of_columns %}
                    {{ adapter.quote(column) }} = {{ as_of() }}{{ ',' if not loop.last }}
                {%- endfor %}
            {%- endcall %}
        {% endif %}
        {#- the run result says what the difference was: "DIFF -deleted +inserted" -#}
        {%- set deleted = load_result('diff_delete').table.rows[0][0] -%}
        {%- set inserted = load_result('diff_insert').table.rows[0][0] -%}
        {% do store_raw_result(
            name='main', message='DIFF -' ~ deleted ~ ' +' ~ inserted, code='DIFF', rows_affected=inserted
        ) %}
    {% endif %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do apply_grants(target_relation, grant_config, should_revoke=rebuild) %}
    {% do persist_docs(target_relation, model) %}
    -- `COMMIT` happens here
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
