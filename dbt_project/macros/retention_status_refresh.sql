{#- Incremental refresh of fct_retention_status (DuckDB only).

    A record's row is a function of its int_retention_records_anchored row, its tenant's policy for its data
    category, its subject's state at as_of (an open legal hold, the earliest erasure request, a standing
    restriction), whether a held person's address holds it, and as_of itself. A daily build recomputes only the
    records (the scope) for which one of those may have changed since the table was last built:
      (a) records whose anchored row is new, gone, or differs from the one the table was built from: the rows
          the anchors stamp as changed since, or, when rows may have gone from them, every anchored row compared
          with the table;
      (b) records of subjects whose state differs from the one the table was built with;
      (c) records a held address holds now, and records the table holds as held;
      (d) records whose due state flips at the new as_of (judged again from their own stored columns);
      (e) records whose tenant's retention days for their category are not those they were judged under.
    Everything else in a row is a function of those, so the rest of the table stands. The pre-hook keeps the
    scope in a temporary table and deletes its rows; the model's SELECT recomputes them from it (append); the
    post-hooks move days_past_due of the other rows to the new as_of and record what the table was built from:
    the subject states (intermediate.int_retention_status_subject_states) and the latest anchor stamp
    (intermediate.int_retention_status_anchored_through). They are written in the table's own transaction, by
    every build of it (a full refresh too), so they always describe the table as it is. Without them (the first
    build after an upgrade) every record is recomputed. A purge's rebuild runs with --full-refresh. On Spark the
    model is a plain table. -#}

{#- The open holds at as_of per subject: a hold is open from its start date through its end date (inclusive;
    no end = open-ended). -#}
{% macro retention_open_holds(legal_holds) -%}
    select
        tenant_id,
        subject_key,
        count(*) as open_hold_count
    from {{ legal_holds }}
    where subject_key is not null
        and start_date <= {{ dbt.cast(as_of(), api.Column.translate_type('date')) }}
        and (end_date is null or end_date >= {{ dbt.cast(as_of(), api.Column.translate_type('date')) }})
    group by tenant_id, subject_key
{%- endmacro %}

{#- Per subject with any of them: whether a hold is open at as_of, the earliest erasure request, a standing
    restriction: the subject-level inputs of fct_retention_status. -#}
{% macro retention_subject_states() -%}
    with
    open_holds as (
        {{ retention_open_holds(ref('int_legal_holds_resolved')) }}
    ),
    erasures as (
        select tenant_id, subject_key, min(requested_at) as erasure_requested_at
        from {{ ref('int_erasure_requests_resolved') }}
        where subject_key is not null
        group by tenant_id, subject_key
    ),
    restricted as (
        select tenant_id, subject_key
        from {{ ref('int_consent_subject_flags') }}
        where is_restricted and subject_key is not null
    ),
    subjects as (
        select tenant_id, subject_key from open_holds
        union
        select tenant_id, subject_key from erasures
        union
        select tenant_id, subject_key from restricted
    )
    select
        subjects.tenant_id,
        subjects.subject_key,
        open_holds.subject_key is not null as is_held,
        erasures.erasure_requested_at,
        restricted.subject_key is not null as is_restricted
    from subjects
    left join open_holds
        on open_holds.tenant_id = subjects.tenant_id and open_holds.subject_key = subjects.subject_key
    left join erasures
        on erasures.tenant_id = subjects.tenant_id and erasures.subject_key = subjects.subject_key
    left join restricted
        on restricted.tenant_id = subjects.tenant_id and restricted.subject_key = subjects.subject_key
{%- endmacro %}

{#- The records (tenant_id, source_table, record_id) that an address of a held person's CRM contact holds: a call
    or mail from one is kept even when the marts give it to someone else who shares the address (a household
    landline), as the purge's own hold check keeps it. `open_holds` is the relation or CTE of
    retention_open_holds. -#}
{% macro retention_held_by_address(open_holds) -%}
    with
    held_contacts as (
        select crm_contacts.*
        from {{ ref('int_consent_subject_identities') }} as crm_contacts
        inner join {{ open_holds }} as open_holds
            on open_holds.tenant_id = crm_contacts.tenant_id
            and open_holds.subject_key = crm_contacts.subject_key
    ),
    held_addresses as (
        select tenant_id, email as address from held_contacts where email is not null
        union
        select tenant_id, phone as address from held_contacts where phone is not null
        union
        select tenant_id, mobile_phone as address from held_contacts where mobile_phone is not null
    ),
    held_calls as (
        select distinct contact_records.tenant_id, contact_records.contact_id
        from {{ ref('stg_connect__contact_records') }} as contact_records
        inner join held_addresses
            on held_addresses.tenant_id = contact_records.tenant_id
            and held_addresses.address = contact_records.customer_address
    )
    select tenant_id, 'contact_records' as source_table, contact_id as record_id from held_calls
    union all
    select tenant_id, 'recordings' as source_table, contact_id as record_id from held_calls
    union all
    select tenant_id, 'transcripts' as source_table, contact_id as record_id from held_calls
    union all
    select distinct email_events.tenant_id, 'email_events' as source_table, email_events.sg_event_id as record_id
    from {{ ref('stg_sendgrid__email_events') }} as email_events
    inner join held_addresses
        on held_addresses.tenant_id = email_events.tenant_id
        and held_addresses.address = email_events.email
{%- endmacro %}

{#- The temporary table holding this build's scope (created by the pre-hook, read by the model's SELECT). -#}
{% macro retention_status_scope_relation() -%}
    fct_retention_status__scope
{%- endmacro %}

{#- The bookkeeping tables the post-hooks write (macros/bookkeeping.sql). -#}
{% macro retention_status_bookkeeping(name) -%}
    {{ return(bookkeeping_relation('int_retention_status_' ~ name)) }}
{%- endmacro %}

{#- That bookkeeping table as the last build of the table left it, or none. -#}
{% macro retention_status_bookkeeping_built(name) -%}
    {%- set relation = retention_status_bookkeeping(name) -%}
    {{ return(adapter.get_relation(database=relation.database, schema=relation.schema,
                                   identifier=relation.identifier)) }}
{%- endmacro %}

{#- Whether this build recomputes only a scope: an incremental DuckDB build of a table whose subject states of
    the last build are there. -#}
{% macro retention_status_scoped() -%}
    {%- if not execute or this is none or target.type != 'duckdb' or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(retention_status_bookkeeping_built('subject_states') is not none) }}
{%- endmacro %}

{#- The SQL timestamp after which int_retention_records_anchored rows changed since the table's last build
    (the post-hook's int_retention_status_anchored_through), or none when that is not enough to find every
    change: no record of the last build, or rows gone from the anchors since (the anchors hold fewer rows than the
    table plus the rows that went in since; a rebuilt anchors table went in whole). -#}
{% macro retention_status_anchored_through() -%}
    {%- set built = retention_status_bookkeeping_built('anchored_through') -%}
    {%- if built is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set through = run_query('select max(anchored_changed_through) from ' ~ built).rows[0][0] -%}
    {%- if through is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set mark = "cast('" ~ through ~ "' as timestamp)" -%}
    {%- set anchored = ref('int_retention_records_anchored') -%}
    {%- set whole = run_query(
        'select (select count(*) from ' ~ anchored ~ ') = (select count(*) from ' ~ this ~ ') + (select count(*) from '
        ~ anchored ~ ' where row_inserted_at > ' ~ mark ~ ')').rows[0][0] -%}
    {{ return(mark if whole else none) }}
{%- endmacro %}

{#- SQL of the scope (tenant_id, source_table, record_id): see the top of this file. The two big tables are read
    where they are needed, not through CTEs, which DuckDB would materialise whole for being read twice. When it
    compares every row, (a) joins the two tables on a hash of each row's key and anchored columns as well as on
    the key (a changed, new or gone row has no equal on the other side). -#}
{% macro retention_status_scope() -%}
    {%- set through = retention_status_anchored_through() -%}
    {%- set key = 'tenant_id, source_table, record_id' -%}
    {%- set compared = key ~ ', data_category, subject_key, anchor_at, is_active_customer' -%}
    {%- set anchored = ref('int_retention_records_anchored') -%}
    with
    states_now as (
        {{ retention_subject_states() }}
    ),
    states_was as (
        select * from {{ retention_status_bookkeeping_built('subject_states') }}
    ),
    changed_subjects as (
        select coalesce(now.tenant_id, was.tenant_id) as tenant_id,
               coalesce(now.subject_key, was.subject_key) as subject_key
        from states_now as now
        full outer join states_was as was
            on was.tenant_id = now.tenant_id and was.subject_key = now.subject_key
        where now.subject_key is null or was.subject_key is null
            or now.is_held is distinct from was.is_held
            or now.erasure_requested_at is distinct from was.erasure_requested_at
            or now.is_restricted is distinct from was.is_restricted
    ),
    open_holds as (
        select tenant_id, subject_key from states_now where is_held
    ),
    held_by_address as (
        {{ retention_held_by_address('open_holds') }}
    ),
    {%- if through is none %}
    anchored_rows as (
        select hash({{ compared }}) as row_hash, {{ key }} from {{ anchored }}
    ),
    status_rows as (
        select hash({{ compared }}) as row_hash, {{ key }} from {{ this }}
    )
    -- (a) anchored rows new, gone or changed: every row compared
    select coalesce(anchored_rows.tenant_id, status_rows.tenant_id) as tenant_id,
           coalesce(anchored_rows.source_table, status_rows.source_table) as source_table,
           coalesce(anchored_rows.record_id, status_rows.record_id) as record_id
    from anchored_rows
    full outer join status_rows
        on status_rows.row_hash = anchored_rows.row_hash
        and status_rows.tenant_id = anchored_rows.tenant_id
        and status_rows.source_table = anchored_rows.source_table
        and status_rows.record_id = anchored_rows.record_id
    where anchored_rows.row_hash is null or status_rows.row_hash is null
    {%- else %}
    anchored_since as (
        select {{ key }} from {{ anchored }} where row_changed_at > {{ through }}
    )
    -- (a) anchored rows new or changed since the last build (none went)
    select {{ key }} from anchored_since
    {%- endif %}
    union
    -- (b) records of subjects whose state changed
    select anchored.tenant_id, anchored.source_table, anchored.record_id
    from {{ anchored }} as anchored
    inner join changed_subjects
        on changed_subjects.tenant_id = anchored.tenant_id
        and changed_subjects.subject_key = anchored.subject_key
    union
    -- (c) records held by address now, and those held when the table was built
    select {{ key }} from held_by_address
    union
    select {{ key }} from {{ this }} where is_held
    union
    -- (d) records whose due state flips at this as_of
    select {{ key }} from {{ this }}
    where is_due is distinct from coalesce(
        due_at <= {{ as_of() }} and not is_held and not (is_restricted and not is_erasure_requested), false)
    union
    -- (e) records judged under other retention days than their tenant's policy gives now
    select status.tenant_id, status.source_table, status.record_id
    from {{ this }} as status
    left join {{ source('lethe_meta', 'retention_policy') }} as policy
        on policy.tenant_id = status.tenant_id
        and policy.data_category = status.data_category
    where status.retention_days is distinct from policy.retention_days
{%- endmacro %}

{#- The pre-hooks: keep the scope in a temporary table, then delete its rows (every row when not scoped). -#}
{% macro retention_status_keep_scope() -%}
    {%- if retention_status_scoped() -%}
        create or replace temporary table {{ retention_status_scope_relation() }} as
        {{ retention_status_scope() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{% macro retention_status_delete() -%}
    {%- if not execute or not is_incremental() -%}
        select 1
    {%- elif retention_status_scoped() -%}
        delete from {{ this }}
        where (tenant_id, source_table, record_id) in (
            select tenant_id, source_table, record_id from {{ retention_status_scope_relation() }}
        )
    {%- else -%}
        {{ log(this ~ ': no subject states of the last build: recomputing every record', info=true) }}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- The post-hooks: days_past_due of the rows kept, at the new as_of; then what the table was built from. -#}
{% macro retention_status_restamp() -%}
    {%- if retention_status_scoped() -%}
        update {{ this }} set days_past_due = {{ retention_days_past_due() }}
        where days_past_due is distinct from {{ retention_days_past_due() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{% macro retention_status_keep_bookkeeping(name) -%}
    {%- if not execute or target.type != 'duckdb' -%}
        select 1
    {%- elif name == 'recomputed' -%}
        {#- the records this build recomputed, when it ran and when the build before it ran (retention_due merges
            only those records when it last merged the build before: macros/retention_due_refresh.sql); run before
            subject_states is written, so that retention_status_scoped() still says what this build did -#}
        {%- set builds = retention_status_bookkeeping_built('builds') -%}
        {%- set last = run_query('select cast(max(built_at) as varchar) from ' ~ builds).rows[0][0]
                       if builds is not none else none -%}
        {%- set scoped = retention_status_scoped() -%}
        create or replace table {{ retention_status_bookkeeping('recomputed') }} as
        {%- if scoped %}
        select tenant_id, source_table, record_id from {{ retention_status_scope_relation() }};
        {%- else %}
        select tenant_id, source_table, record_id from {{ this }} where false;
        {%- endif %}

        create or replace table {{ retention_status_bookkeeping('builds') }} as
        select
            {{ build_instant_utc() }} as built_at,
            {{ "cast('" ~ last ~ "' as timestamp)" if last is not none else 'cast(null as timestamp)' }} as previous_built_at,
            {{ 'false' if scoped else 'true' }} as recomputed_every_record
    {%- elif name == 'subject_states' -%}
        create or replace table {{ retention_status_bookkeeping(name) }} as
        {{ retention_subject_states() }}
    {%- else -%}
        create or replace table {{ retention_status_bookkeeping(name) }} as
        select max(row_changed_at) as anchored_changed_through from {{ ref('int_retention_records_anchored') }}
    {%- endif -%}
{%- endmacro %}
