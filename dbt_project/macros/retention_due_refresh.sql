{#- The scope of retention_due's MERGE (DuckDB; macros/diff_table.sql, config `scope`).

    retention_due is fct_retention_status's due rows. fct_retention_status's post-hooks keep the records its last
    build recomputed (intermediate.int_retention_status_recomputed) and when that build and the one before it ran
    (intermediate.int_retention_status_builds); every other status row kept its columns but days_past_due, which
    retention_due's `restamp` sets on every row anyway. So when retention_due last merged the status build just
    before the last one, and the last one was scoped, only the recomputed records can have come, gone or changed:
    the SELECT gives their due rows and the MERGE leaves every other row as it is. Otherwise (a status build
    skipped, a --full-refresh of the status, no bookkeeping) it merges every due row. retention_due's post-hook
    keeps which status build it merged (intermediate.int_retention_due_merged). -#}

{% macro retention_due_temp() -%}
    retention_due__mode
{%- endmacro %}

{% macro retention_due_bookkeeping() -%}
    {{ return(bookkeeping_relation('int_retention_due_merged')) }}
{%- endmacro %}

{#- Whether the SELECT reads the scope macro's temporary table (macros/bookkeeping.sql): with the bookkeeping of its
    last build and of the status's. -#}
{% macro retention_due_scoped() -%}
    {{ return(diff_table_scope_possible(['int_retention_due_merged', 'int_retention_status_builds',
                                         'int_retention_status_recomputed'])) }}
{%- endmacro %}

{#- The scope macro (config `scope`): the temporary table `mode` (whole: whether the SELECT gives every due row). -#}
{% macro retention_due_scope() -%}
    {%- if not retention_due_scoped() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set status = run_query('select cast(previous_built_at as varchar), recomputed_every_record from '
                               ~ retention_status_bookkeeping('builds')).rows -%}
    {%- set merged = run_query('select cast(status_built_at as varchar) from ' ~ retention_due_bookkeeping()).rows -%}
    {%- set whole = not (status | length == 1 and merged | length == 1 and status[0][0] is not none
                         and status[0][0] == merged[0][0] and not status[0][1]) -%}
    {%- if whole -%}
        {{ log(this ~ ': the last status build is not the one after the status this table merged last (or recomputed every record): merging every due row', info=true) }}
    {%- endif -%}
    {% call statement('retention_due_scope_mode') -%}
        create or replace temporary table {{ retention_due_temp() }} as select {{ 'true' if whole else 'false' }} as whole
    {%- endcall %}
    {%- set recomputed = retention_status_bookkeeping('recomputed') -%}
    {{ return({
        'delete_held': '(select whole from ' ~ retention_due_temp() ~ ') or (held.tenant_id, held.source_table, '
                       ~ 'held.record_id) in (select tenant_id, source_table, record_id from ' ~ recomputed ~ ')',
        'widen': 'update ' ~ retention_due_temp() ~ ' set whole = true',
    }) }}
{%- endmacro %}

{#- The SELECT's filter on the status rows when scoped (`status` is the model's CTE). -#}
{% macro retention_due_status_filter() -%}
    (select whole from {{ retention_due_temp() }})
    or (status.tenant_id, status.source_table, status.record_id) in (
        select tenant_id, source_table, record_id from {{ retention_status_bookkeeping('recomputed') }}
    )
{%- endmacro %}

{#- The post-hook: which status build this table merged (its built_at), and whether it merged every due row. -#}
{% macro retention_due_keep_bookkeeping() -%}
    {%- if not execute or target.type != 'duckdb' -%}
        select 1
    {%- else -%}
        {%- set builds = retention_status_bookkeeping('builds') -%}
        {#- asked of the database, not dbt's relation cache: the status's post-hook may have created it in this run -#}
        {%- set built = run_query("select count(*) from duckdb_tables() where database_name = '" ~ builds.database
                                  ~ "' and schema_name = '" ~ builds.schema ~ "' and table_name = '"
                                  ~ builds.identifier ~ "'").rows[0][0] > 0 -%}
        create or replace table {{ retention_due_bookkeeping() }} as
        select
            {%- if built %}
            (select max(built_at) from {{ builds }}) as status_built_at,
            {%- else %}
            cast(null as timestamp) as status_built_at,
            {%- endif %}
            {%- if retention_due_scoped() %}
            (select whole from {{ retention_due_temp() }}) as merged_every_due_row
            {%- else %}
            true as merged_every_due_row
            {%- endif %}
    {%- endif -%}
{%- endmacro %}
