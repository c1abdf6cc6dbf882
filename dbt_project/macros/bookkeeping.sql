{#- Bookkeeping tables: what an incremental model's hooks keep beside it, in the intermediate schema, to find what
    its next build must recompute. They are not dbt models: the model's config names them in
    meta.bookkeeping_tables (a purge's compaction leaves them out with the model's table). -#}

{% macro bookkeeping_relation(identifier) -%}
    {#- `this` is none in a unit test, which never reads bookkeeping (its scope checks say so first) -#}
    {{ return(api.Relation.create(database=(this.database if this is not none else target.database),
                                  schema=generate_schema_name('intermediate', none), identifier=identifier)) }}
{%- endmacro %}

{#- Whether every relation exists, by dbt's relation cache (as the run found them when it started: a table a hook
    created in this run is not in it). -#}
{% macro relations_exist(relations) -%}
    {%- for relation in relations -%}
        {%- if adapter.get_relation(database=relation.database, schema=relation.schema,
                                    identifier=relation.identifier) is none -%}
            {{ return(false) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(true) }}
{%- endmacro %}

{#- Whether a diff_table model's build may narrow its SELECT by the temporary tables of its scope macro (config
    `scope`, macros/diff_table.sql): a DuckDB build that is not a --full-refresh, of an existing table, with the
    bookkeeping tables of its last build (`identifiers`, in the intermediate schema). The materialization calls the
    scope macro on exactly these builds, bar the bookkeeping, which the scope macro checks by calling this. Names,
    not relations: on Spark (no database) and in unit tests (no `this`) no relation is made. -#}
{% macro diff_table_scope_possible(identifiers) -%}
    {%- if not execute or this is none or target.type != 'duckdb' or should_full_refresh() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) -%}
    {%- if existing is none or not existing.is_table -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set relations = [] -%}
    {%- for identifier in identifiers -%}
        {%- do relations.append(bookkeeping_relation(identifier)) -%}
    {%- endfor -%}
    {{ return(relations_exist(relations)) }}
{%- endmacro %}
