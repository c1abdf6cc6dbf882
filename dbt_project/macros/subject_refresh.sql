{#- Incremental refresh by subject (DuckDB only), for models whose rows of a subject are a function of that
    subject's rows of one input alone (int_consents_resolved: the ledger of a subject's consent events).

    A digests model built after the model keeps, per (tenant_id, subject_key), an order-free hash and the
    count of the input's rows as they stood at the last build (subject_rows_digest). The next build finds the
    subjects whose digest differs now, or who appeared or vanished (changed_subjects): new, late or deleted
    input rows, an earlier or later as-of, a changed identity resolution all change them. The model's pre-hook
    deletes their rows (delete_changed_subjects) and its SELECT recomputes only them (incremental, append).
    Without the digests (the first build, or an upgrade from an older table) it recomputes every subject.
    The engagement models use the same idea with two inputs (macros/engagement_refresh.sql). -#}

{% macro subject_rows_digest(relation) -%}
    {#- sum, not xor, of the row hashes: two equal rows must not cancel out -#}
    {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name')
        | reject('in', ['tenant_id', 'subject_key']) | list -%}
    select
        tenant_id,
        subject_key,
        sum(hash({{ columns | join(', ') }})) as rows_digest,
        count(*) as row_count
    from {{ relation }}
    group by tenant_id, subject_key
{%- endmacro %}

{#- SQL of the (tenant_id, subject_key) whose rows of `relation` changed since the digests model
    `digests_identifier` (in this model's schema) was built; none to recompute everyone (no digests, a full
    refresh, a first build, a unit test, or Spark). -#}
{% macro changed_subjects(relation, digests_identifier) -%}
    {{ return(subjects_whose_digests_changed(subject_rows_digest, [relation], digests_identifier,
                                             ['rows_digest', 'row_count'])) }}
{%- endmacro %}

{#- The comparison both refreshes share: SQL of the (tenant_id, subject_key) for which any of `columns` differs
    between the digests `digest_macro(*inputs)` gives now and the digests model `digests_identifier` (in this
    model's schema) holds from the last build, or who are in only one of them; none outside an incremental
    DuckDB build or without that digests model. The macro is passed, not its SQL, so that it (and its column
    lookups) runs only when there is something to compare. -#}
{% macro subjects_whose_digests_changed(digest_macro, inputs, digests_identifier, columns) -%}
    {%- if not execute or this is none or target.type != 'duckdb' or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set digests = adapter.get_relation(database=this.database, schema=this.schema, identifier=digests_identifier) -%}
    {%- if digests is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set changed = [] -%}
    {%- for column in columns -%}
        {%- do changed.append('now.' ~ column ~ ' is distinct from was.' ~ column) -%}
    {%- endfor -%}
    {%- set dirty -%}
        select coalesce(now.tenant_id, was.tenant_id) as tenant_id,
               coalesce(now.subject_key, was.subject_key) as subject_key
        from ({{ digest_macro(*inputs) }}) as now
        full outer join {{ digests }} as was
            on was.tenant_id = now.tenant_id and was.subject_key = now.subject_key
        where {{ changed | join(' or ') }}
    {%- endset -%}
    {{ return(dirty) }}
{%- endmacro %}

{#- The pre-hook: delete the rows of the subjects this build recomputes (every row without digests). -#}
{% macro delete_changed_subjects(relation, digests_identifier) -%}
    {%- if not execute or not is_incremental() -%}
        select 1
    {%- else -%}
        {{ delete_subjects_rows(changed_subjects(relation, digests_identifier), digests_identifier) }}
    {%- endif -%}
{%- endmacro %}

{#- DELETE of this model's rows of the subjects `changed` (SQL of tenant_id, subject_key) selects, or of every
    row when it is none (no digests_identifier of the last build). -#}
{% macro delete_subjects_rows(changed, digests_identifier) -%}
    {%- if changed is none -%}
        {{ log(this ~ ': no ' ~ digests_identifier ~ ' of the last build: recomputing every subject', info=true) }}
        delete from {{ this }}
    {%- else -%}
        delete from {{ this }}
        where (tenant_id, subject_key) in (select tenant_id, subject_key from ({{ changed }}))
    {%- endif -%}
{%- endmacro %}
