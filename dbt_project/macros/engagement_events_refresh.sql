{#- Incremental refresh of int_engagement_events (DuckDB only).

    A subject's engagement events are a function of the raw email events and contact records at the addresses
    (email, E.164 phone) that resolve to them, and of as_of (events before it count). The table's post-hook keeps,
    per address seen in those raw rows, how many raw rows it had and the subject it resolved to
    (intermediate.int_engagement_events_addresses), and the build's as_of and the latest load instant of those
    rows (intermediate.int_engagement_events_built). A daily build recomputes every event of the subjects, then
    and now, of each address that
      (a) has a raw row loaded since that load instant (new data, a row replaced in place), or
      (b) has a raw row whose instant lies between the last build's as_of and this one's (either way), or
      (c) has another count of raw rows than then (rows deleted, replaced by a row at another address, or
          inserted behind the loads' back), or
      (d) resolves to another subject than then, or to none, or was not there then.
    Counting every address's raw rows means reading every raw row, so the build first checks, from the raw rows
    loaded up to that load instant (`rows_through`), that none of them went: then (c) can only hold for an address
    with rows loaded since, which (a) selects already, and the counts are the last build's plus the new rows. Only
    when rows went (a purge without --full-refresh, a replaced row, rows deleted or inserted behind the loads'
    back, rows without a load instant) are all the addresses counted anew.
    The pre-hook keeps the scope in a temporary table and deletes its subjects' rows; the model's SELECT
    recomputes them (append); the post-hook rewrites the bookkeeping, all in the build's transaction. Without
    the bookkeeping (a first build, --full-refresh) the table is recomputed whole. -#}

{#- The temporary tables of this build's scope (created by the pre-hook, read by the SELECT and the post-hook). -#}
{% macro engagement_events_temp(name) -%}
    int_engagement_events__{{ name }}
{%- endmacro %}

{#- The bookkeeping tables the post-hook writes (macros/bookkeeping.sql). -#}
{% macro engagement_events_bookkeeping(name) -%}
    {{ return(bookkeeping_relation('int_engagement_events_' ~ name)) }}
{%- endmacro %}

{#- The last build's as_of and load instant (a dict of SQL timestamp literals), or none: not an incremental DuckDB
    build, or no bookkeeping of a last build. -#}
{% macro engagement_events_last_build() -%}
    {%- if not execute or this is none or target.type != 'duckdb' or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not relations_exist([engagement_events_bookkeeping('addresses'), engagement_events_bookkeeping('built')]) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rows = run_query('select cast(as_of as varchar), cast(loaded_through as varchar), rows_through from '
                             ~ engagement_events_bookkeeping('built')).rows -%}
    {%- if rows | length != 1 or rows[0][0] is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set loaded_through = "cast('" ~ rows[0][1] ~ "' as timestamp)" if rows[0][1] is not none
                             else "cast(null as timestamp)" -%}
    {{ return({'as_of': "cast('" ~ rows[0][0] ~ "' as timestamp)", 'loaded_through': loaded_through,
               'rows_through': rows[0][2]}) }}
{%- endmacro %}

{#- Every raw email event and contact record as (tenant_id, identity_kind, identity_value, loaded_at, event_at):
    the address int_engagement_events resolves it by, when it was loaded, and the instant compared with as_of. -#}
{% macro engagement_events_raw_addresses() -%}
    select tenant_id, 'email' as identity_kind, email as identity_value, loaded_at, event_at
    from {{ ref('stg_sendgrid__email_events') }}
    union all
    select
        tenant_id,
        {{ contact_record_address_kind() }} as identity_kind,
        {{ contact_record_address_value() }} as identity_value,
        loaded_at,
        initiation_timestamp as event_at
    from {{ ref('stg_connect__contact_records') }}
{%- endmacro %}

{#- SQL: whether a raw row was loaded since the last build (or has no load instant), or lies between its as-of
    and this one's: (a) or (b) above. -#}
{% macro engagement_events_row_touched(last) -%}
    (
        loaded_at is null
        or loaded_at > {{ last.loaded_through }}
        or {{ last.loaded_through }} is null
        or (event_at >= least({{ last.as_of }}, {{ as_of() }}) and event_at < greatest({{ last.as_of }}, {{ as_of() }}))
    )
{%- endmacro %}

{#- Whether no raw row loaded up to the last build's load instant went since (their count is the same and every row
    has a load instant): then the last build's counts plus the rows loaded since are the counts now. -#}
{% macro engagement_events_no_row_went(last) -%}
    {%- if last.rows_through is none or last.loaded_through == 'cast(null as timestamp)' -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set counts = run_query('select count(*) filter (where loaded_at <= ' ~ last.loaded_through ~ '), '
                               ~ 'count(*) filter (where loaded_at is null) from ('
                               ~ engagement_events_raw_addresses() ~ ') as raw_addresses').rows[0] -%}
    {{ return(counts[0] == last.rows_through and counts[1] == 0) }}
{%- endmacro %}

{#- Per address, when no row went: the last build's count plus the rows loaded since, the subject it resolves to
    now, and whether (a) or (b) holds for it, from the touched raw rows only. -#}
{% macro engagement_events_address_rows_since(last) -%}
    select
        coalesce(recent.tenant_id, was.tenant_id) as tenant_id,
        coalesce(recent.identity_kind, was.identity_kind) as identity_kind,
        coalesce(recent.identity_value, was.identity_value) as identity_value,
        coalesce(was.raw_rows, 0) + coalesce(recent.new_rows, 0) as raw_rows,
        identities.subject_key,
        recent.tenant_id is not null as is_touched
    from (
        select
            tenant_id,
            identity_kind,
            identity_value,
            count(*) filter (where loaded_at > {{ last.loaded_through }}) as new_rows
        from ({{ engagement_events_raw_addresses() }}) as raw_addresses
        where identity_value is not null and {{ engagement_events_row_touched(last) }}
        group by tenant_id, identity_kind, identity_value
    ) as recent
    full outer join {{ engagement_events_bookkeeping('addresses') }} as was
        on was.tenant_id = recent.tenant_id
        and was.identity_kind = recent.identity_kind
        and was.identity_value = recent.identity_value
    left join {{ ref('int_subject_identities_resolved') }} as identities
        on identities.tenant_id = coalesce(recent.tenant_id, was.tenant_id)
        and identities.identity_kind = coalesce(recent.identity_kind, was.identity_kind)
        and identities.identity_value = coalesce(recent.identity_value, was.identity_value)
        and identities.is_resolved
{%- endmacro %}

{#- Per address: its raw rows, the subject it resolves to now, and (given the last build) whether (a) or (b) above
    holds for it, counting every raw row. -#}
{% macro engagement_events_address_rows(last) -%}
    select
        addresses.tenant_id,
        addresses.identity_kind,
        addresses.identity_value,
        addresses.raw_rows,
        identities.subject_key,
        addresses.is_touched
    from (
        select
            tenant_id,
            identity_kind,
            identity_value,
            count(*) as raw_rows,
            {%- if last is none %}
            false as is_touched
            {%- else %}
            bool_or({{ engagement_events_row_touched(last) }}) as is_touched
            {%- endif %}
        from ({{ engagement_events_raw_addresses() }}) as raw_addresses
        where identity_value is not null
        group by tenant_id, identity_kind, identity_value
    ) as addresses
    left join {{ ref('int_subject_identities_resolved') }} as identities
        on identities.tenant_id = addresses.tenant_id
        and identities.identity_kind = addresses.identity_kind
        and identities.identity_value = addresses.identity_value
        and identities.is_resolved
{%- endmacro %}

{#- Whether this build recomputes only a scope (for the model's SELECT). -#}
{% macro engagement_events_scoped() -%}
    {{ return(engagement_events_last_build() is not none) }}
{%- endmacro %}

{#- The pre-hook: keep the addresses and the scope (the subjects, then and now, of the addresses (a)-(d) select)
    in temporary tables and delete the scope's rows; or delete every row when not scoped. -#}
{% macro engagement_events_delete() -%}
    {%- if not execute or not is_incremental() -%}
        select 1
    {%- else -%}
        {%- set last = engagement_events_last_build() -%}
        {%- if last is none -%}
            {{ log(this ~ ': no bookkeeping of the last build: recomputing every event', info=true) }}
            delete from {{ this }}
        {%- else -%}
            create or replace temporary table {{ engagement_events_temp('addresses') }} as
            {% if engagement_events_no_row_went(last) -%}
            {{ engagement_events_address_rows_since(last) }};
            {%- else -%}
            {{ log(this ~ ': raw rows went since the last build: counting every address', info=true) }}
            {{ engagement_events_address_rows(last) }};
            {%- endif %}

            create or replace temporary table {{ engagement_events_temp('scope') }} as
            with changed as (
                select now.tenant_id, now.subject_key, was.tenant_id as was_tenant_id, was.subject_key as was_subject_key
                from {{ engagement_events_temp('addresses') }} as now
                full outer join {{ engagement_events_bookkeeping('addresses') }} as was
                    on was.tenant_id = now.tenant_id
                    and was.identity_kind = now.identity_kind
                    and was.identity_value = now.identity_value
                where now.is_touched
                    or now.tenant_id is null
                    or was.tenant_id is null
                    or now.raw_rows <> was.raw_rows
                    or now.subject_key is distinct from was.subject_key
            )
            select distinct tenant_id, subject_key
            from (
                select tenant_id, subject_key from changed
                union all
                select was_tenant_id, was_subject_key from changed
            ) as subjects
            where subject_key is not null;

            delete from {{ this }}
            where (tenant_id, subject_key) in (
                select tenant_id, subject_key from {{ engagement_events_temp('scope') }}
            )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The post-hook: what the table was built from (both bookkeeping tables, in one statement list, so that they
    are judged by the same scope decision). -#}
{% macro engagement_events_keep_bookkeeping() -%}
    {%- if not execute or target.type != 'duckdb' -%}
        select 1
    {%- else -%}
        {%- set last = engagement_events_last_build() -%}
        create or replace table {{ engagement_events_bookkeeping('built') }} as
        select
            {{ as_of() }} as as_of,
            (select max(loaded_at) from ({{ engagement_events_raw_addresses() }}) as raw_addresses) as loaded_through,
            (select count(loaded_at) from ({{ engagement_events_raw_addresses() }}) as raw_addresses) as rows_through,
            {%- if last is none %}
            cast(null as bigint) as subjects_recomputed,
            cast(null as boolean) as counted_every_address
            {%- else %}
            (select count(*) from {{ engagement_events_temp('scope') }}) as subjects_recomputed,
            {{ 'false' if engagement_events_no_row_went(last) else 'true' }} as counted_every_address
            {%- endif %};

        create or replace table {{ engagement_events_bookkeeping('addresses') }} as
        select tenant_id, identity_kind, identity_value, raw_rows, subject_key
        {%- if last is none %}
        from ({{ engagement_events_address_rows(none) }}) as addresses
        {%- else %}
        from {{ engagement_events_temp('addresses') }}
        {%- endif %}
    {%- endif -%}
{%- endmacro %}
