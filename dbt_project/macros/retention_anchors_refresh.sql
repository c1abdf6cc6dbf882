{#- The scope of int_retention_records_anchored's MERGE (DuckDB; macros/diff_table.sql, config `scope`).

    Most anchored records are SendGrid email events (campaign.event): a row per raw event, its subject that of its
    email address. Such a row can only change when its raw row is new or replaced (loaded since the last build),
    when its raw row goes, or when its address resolves to another subject. So a build whose raw email events
    loaded up to the last build's load instant are all still there (the same count, every row with a load
    instant: nothing went, nothing was replaced) computes the email events loaded since and those of the
    addresses whose subject changed (int_subject_identities_resolved now against the subjects the last build
    saw), every other record (contact records, transcripts, recordings, CRM) as before, and leaves the other
    email events' rows as they are. Otherwise (rows went, no bookkeeping of a last build) it computes every row.
    The post-hook keeps, in the build's transaction, that load instant and count
    (intermediate.int_retention_records_anchored_built) and every email identity's subject
    (intermediate.int_retention_records_anchored_emails). -#}

{#- The temporary tables the scope macro writes and the SELECT reads. -#}
{% macro retention_anchors_temp(name) -%}
    int_retention_records_anchored__{{ name }}
{%- endmacro %}

{#- The bookkeeping tables the post-hook writes (macros/bookkeeping.sql). -#}
{% macro retention_anchors_bookkeeping(name) -%}
    {{ return(bookkeeping_relation('int_retention_records_anchored_' ~ name)) }}
{%- endmacro %}

{#- Whether this build narrows the SELECT by the scope macro's temporary tables (macros/bookkeeping.sql). -#}
{% macro retention_anchors_scoped() -%}
    {{ return(diff_table_scope_possible(['int_retention_records_anchored_built', 'int_retention_records_anchored_emails'])) }}
{%- endmacro %}

{#- The scope macro (config `scope`): writes the temporary tables `mode` (whole: whether the SELECT gives every row;
    loaded_through: the last build's load instant) and `emails` (the addresses whose subject changed), and returns
    the MERGE's `delete_held` and `widen`; none without bookkeeping. -#}
{% macro retention_anchors_scope() -%}
    {%- if not retention_anchors_scoped() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set events = ref('stg_sendgrid__email_events') -%}
    {%- set last = run_query('select cast(loaded_through as varchar), rows_through from '
                             ~ retention_anchors_bookkeeping('built')).rows -%}
    {%- set whole = true -%}
    {%- set through = "cast(null as timestamp)" -%}
    {%- if last | length == 1 and last[0][0] is not none -%}
        {%- set through = "cast('" ~ last[0][0] ~ "' as timestamp)" -%}
        {%- set now = run_query('select count(*) filter (where loaded_at <= ' ~ through ~ '), '
                                ~ 'count(*) filter (where loaded_at is null) from ' ~ events).rows[0] -%}
        {%- set whole = not (now[0] == last[0][1] and now[1] == 0) -%}
    {%- endif -%}
    {%- if whole -%}
        {{ log(this ~ ': raw email events went since the last build (or it left no load instant): computing every row', info=true) }}
    {%- endif -%}
    {% call statement('anchors_scope_mode') -%}
        create or replace temporary table {{ retention_anchors_temp('mode') }} as
        select {{ 'true' if whole else 'false' }} as whole, {{ through }} as loaded_through
    {%- endcall %}
    {% call statement('anchors_scope_emails') -%}
        create or replace temporary table {{ retention_anchors_temp('emails') }} as
        select
            coalesce(now.tenant_id, was.tenant_id) as tenant_id,
            coalesce(now.identity_value, was.identity_value) as email
        from (
            select tenant_id, identity_value, subject_key
            from {{ ref('int_subject_identities_resolved') }}
            where identity_kind = 'email'
        ) as now
        full outer join {{ retention_anchors_bookkeeping('emails') }} as was
            on was.tenant_id = now.tenant_id
            and was.identity_value = now.identity_value
        where now.subject_key is distinct from was.subject_key
    {%- endcall %}
    {{ return({
        'delete_held': "held.source_table <> 'email_events' or (select whole from " ~ retention_anchors_temp('mode') ~ ")",
        'widen': 'update ' ~ retention_anchors_temp('mode') ~ ' set whole = true',
    }) }}
{%- endmacro %}

{#- The SELECT's filter on the email events when scoped (`email_events` is the staging CTE). -#}
{% macro retention_anchors_email_filter() -%}
    (select whole from {{ retention_anchors_temp('mode') }})
    or email_events.loaded_at > (select loaded_through from {{ retention_anchors_temp('mode') }})
    or (email_events.tenant_id, email_events.email) in (
        select tenant_id, email from {{ retention_anchors_temp('emails') }}
    )
{%- endmacro %}

{#- The post-hook: the load instant and count of the raw email events, whether this build computed the rows of all
    of them (a lineage flag), and every email identity's subject. -#}
{% macro retention_anchors_keep_bookkeeping() -%}
    {%- if not execute or target.type != 'duckdb' -%}
        select 1
    {%- else -%}
        create or replace table {{ retention_anchors_bookkeeping('built') }} as
        select
            max(loaded_at) as loaded_through,
            count(loaded_at) as rows_through,
            {%- if retention_anchors_scoped() %}
            (select whole from {{ retention_anchors_temp('mode') }}) as computed_every_email_event
            {%- else %}
            true as computed_every_email_event
            {%- endif %}
        from {{ ref('stg_sendgrid__email_events') }};

        create or replace table {{ retention_anchors_bookkeeping('emails') }} as
        select tenant_id, identity_value, subject_key
        from {{ ref('int_subject_identities_resolved') }}
        where identity_kind = 'email'
    {%- endif -%}
{%- endmacro %}
