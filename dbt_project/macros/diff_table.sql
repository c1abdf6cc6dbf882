{#- diff_table (DuckDB): a table that a build refreshes by difference instead of rewriting it.

    The model is an ordinary SELECT with a `unique_key` config. The first build, `--full-refresh`, and any build
    whose SELECT no longer gives the table's columns (names and types) create the table from it as `table` does.
    Every other build runs one MERGE of the SELECT into the table on the key: rows whose key is new go in, rows
    whose key the SELECT no longer gives go out, rows whose other columns changed are updated, and the rest are
    left as they are. The table then holds exactly what a full rebuild would, whatever changed: new, late or
    deleted source rows, a new as_of, a changed identity resolution, a purge. That costs computing the SELECT and
    one hash join instead of writing every row to disk again (about 1.5-2x less for the large models here).

    The key must be unique in the SELECT (give the model a unique-key test: a duplicate key would be inserted
    twice, and the test then fails the build). A column that is a function of the row's own other columns and
    of as_of alone (a lineage `as_of`, days past a due date) would make every row differ each day: name it in
    config `restamp`, mapping the column to a macro without arguments that renders its SQL expression over the
    row's columns (the model's SELECT uses the same macro). It is left out of the comparison, and after the
    MERGE one UPDATE sets it on every row. A column in config `stamps` records when its row changed, for the
    models that read this one to find what changed: it is left out of the comparison and takes the SELECT's value
    only when the row goes in ('inserted': the time the key first appeared) or when it goes in or changes
    ('updated'). Spark builds these models as tables (materialized=diff_table_or_table()).

    A model may also name, in config `scope`, a macro without arguments that narrows the MERGE to the rows that can
    have changed. The materialization calls it inside the build's transaction, after the pre-hooks and before it
    reads the SELECT's columns, on every build of an existing table that is not a --full-refresh. It returns none
    (no scope: the whole SELECT, as above) or a dict: `delete_held`, a SQL condition on the table's rows (alias
    `held`) under which a row the SELECT does not give goes out (the others are outside the scope and kept as
    they are), and `widen`, a statement that makes the SELECT give every row again. The macro prepares what the
    SELECT reads (temporary tables) and the SELECT narrows itself by them; when the table must be rebuilt after
    all (its columns changed), the materialization runs `widen` first, so the rebuilt table is never a scope. -#}

{% macro diff_table_or_table() -%}
    {{ return('diff_table' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}

{% materialization diff_table, adapter='duckdb' %}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set grant_config = config.get('grants') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    -- `BEGIN` happens here:
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set rebuild = existing_relation is none or not existing_relation.is_table or should_full_refresh() -%}
    {%- set scope = none -%}
    {%- if config.get('scope') and not rebuild -%}
        {%- set scope = context[config.get('scope')]() -%}
    {%- endif -%}
    {%- set query_columns = get_column_schema_from_query(compiled_code) -%}
    {%- if not rebuild -%}
        {%- set table_columns = adapter.get_columns_in_relation(existing_relation) -%}
        {%- set wanted = query_columns | map(attribute='name') | map('lower') | list -%}
        {%- set held = table_columns | map(attribute='name') | map('lower') | list -%}
        {%- set wanted_types = query_columns | map(attribute='dtype') | map('lower') | list -%}
        {%- set held_types = table_columns | map(attribute='dtype') | map('lower') | list -%}
        {%- set rebuild = wanted != held or wanted_types != held_types -%}
    {%- endif -%}
    {%- set columns = query_columns | map(attribute='name') | map('lower') | list -%}
    {%- set restamp = {} -%}
    {%- for column, macro_name in (config.get('restamp') or {}).items() -%}
        {%- if column | lower not in columns or macro_name not in context -%}
            {{ exceptions.raise_compiler_error("diff_table " ~ this ~ ": restamp " ~ column ~ ": " ~ macro_name ~ " must be a column the model gives and a macro") }}
        {%- endif -%}
        {%- do restamp.update({column | lower: macro_name}) -%}
    {%- endfor -%}
    {%- set stamps = {} -%}
    {%- for column, when in (config.get('stamps') or {}).items() -%}
        {%- if column | lower not in columns or when not in ['inserted', 'updated'] -%}
            {{ exceptions.raise_compiler_error("diff_table " ~ this ~ ": stamps " ~ column ~ ": must be a column the model gives, 'inserted' or 'updated'") }}
        {%- endif -%}
        {%- do stamps.update({column | lower: when}) -%}
    {%- endfor -%}
    {%- set unique_key = config.get('unique_key') -%}
    {%- set unique_key = [unique_key] if unique_key is string else (unique_key or []) -%}
    {%- set unique_key = unique_key | map('lower') | list -%}
    {%- if not unique_key or unique_key | reject('in', columns) | list -%}
        {{ exceptions.raise_compiler_error("diff_table " ~ this ~ ": config unique_key must name columns the model gives") }}
    {%- endif -%}
    {%- set quoted = [] -%}
    {%- set keys = [] -%}
    {%- set compared = [] -%}
    {%- set updated = [] -%}
    {%- for column in columns -%}
        {%- do quoted.append(adapter.quote(column)) -%}
        {%- if column in unique_key -%}{%- do keys.append(adapter.quote(column)) -%}
        {%- elif column in stamps -%}
            {%- if stamps[column] == 'updated' -%}{%- do updated.append(adapter.quote(column)) -%}{%- endif -%}
        {%- elif column not in restamp -%}{%- do compared.append(adapter.quote(column)) -%}{%- endif -%}
    {%- endfor -%}
    {%- set updated = compared + updated -%}

    {% if rebuild %}
        {% if scope is not none %}
            {% call statement('diff_widen') -%}
                {{ scope.widen }}
            {%- endcall %}
        {% endif %}
        {% if existing_relation is not none %}
            {% do adapter.drop_relation(existing_relation) %}
        {% endif %}
        {% call statement('main') -%}
            {{ create_table_as(False, target_relation, compiled_code) }}
        {%- endcall %}
    {% else %}
        {% call statement('diff_merge', fetch_result=True) -%}
            merge into {{ target_relation }} as held
            using (
                {{ compiled_code }}
            ) as wanted
            on {% for column in keys %}held.{{ column }} is not distinct from wanted.{{ column }}{{ ' and ' if not loop.last }}{% endfor %}
            {%- if compared %}
            when matched and (
                {%- for column in compared %}
                held.{{ column }} is distinct from wanted.{{ column }}{{ ' or' if not loop.last }}
                {%- endfor %}
            ) then update set
                {%- for column in updated %}
                {{ column }} = wanted.{{ column }}{{ ',' if not loop.last }}
                {%- endfor %}
            {%- endif %}
            when not matched by target then
                insert ({{ quoted | join(', ') }})
                values ({% for column in quoted %}wanted.{{ column }}{{ ', ' if not loop.last }}{% endfor %})
            when not matched by source{% if scope is not none %} and ({{ scope.delete_held }}){% endif %} then delete
        {%- endcall %}
        {% if restamp %}
            {% call statement('diff_restamp') -%}
                update {{ target_relation }} set
                {%- for column, macro_name in restamp.items() %}
                    {{ adapter.quote(column) }} = {{ context[macro_name]() }}{{ ',' if not loop.last }}
                {%- endfor %}
            {%- endcall %}
        {% endif %}
        {#- the run result says how many rows the MERGE inserted, updated or deleted: "MERGE n" -#}
        {%- set changed = load_result('diff_merge').table.rows[0][0] -%}
        {% do store_raw_result(name='main', message='MERGE ' ~ changed, code='MERGE', rows_affected=changed) %}
    {% endif %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do apply_grants(target_relation, grant_config, should_revoke=rebuild) %}
    {% do persist_docs(target_relation, model) %}
    -- `COMMIT` happens here
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
