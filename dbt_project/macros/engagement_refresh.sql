{#- Incremental bookkeeping of int_engagement_daily and int_engagement_features (DuckDB only).

    A subject's daily rows are a function of their int_engagement_events rows alone; a features row (subject,
    snapshot) of the subject's daily rows and int_withdrawal_events, the set of snapshot dates, and, for its
    label, of as_of while the snapshot's 30-day window is open. int_engagement_subject_digests keeps, per
    subject, a hash of their events and one of their withdrawals as they stood at the last build (it is built
    after both models). A subject is "dirty" for a model when a hash it reads differs now, or the subject
    appeared or vanished: new data, late data, a changed identity resolution, a purge all change the rows.
      - int_engagement_daily recomputes its events-dirty subjects;
      - int_engagement_features recomputes every snapshot of its dirty subjects (events or withdrawals), and
        every subject at the snapshot dates from 31 days before the earlier of the old and the new as-of day
        (open label windows and the as-of snapshot) and at snapshot dates the table does not hold yet; rows
        at snapshot dates that no longer exist go.
    Each model's pre-hook deletes, in the build's transaction, the rows it recomputes. Without the digests (or
    the features without their old as-of snapshot: a run that failed half way) a model recomputes everything. -#}

{% macro engagement_subject_digest(events, withdrawals) -%}
    {#- sum, not xor, of the row hashes: two equal rows must not cancel out -#}
    {%- set event_columns = adapter.get_columns_in_relation(events) | map(attribute='name')
        | reject('in', ['tenant_id', 'subject_key']) | list -%}
    {%- set withdrawal_columns = adapter.get_columns_in_relation(withdrawals) | map(attribute='name')
        | reject('in', ['tenant_id', 'subject_key']) | list -%}
    select
        tenant_id,
        subject_key,
        sum(case when part = 'event' then row_hash end) as events_digest,
        count(case when part = 'event' then 1 end) as events_rows,
        sum(case when part = 'withdrawal' then row_hash end) as withdrawals_digest,
        count(case when part = 'withdrawal' then 1 end) as withdrawals_rows
    from (
        select tenant_id, subject_key, 'event' as part, hash({{ event_columns | join(', ') }}) as row_hash
        from {{ events }}
        union all
        select tenant_id, subject_key, 'withdrawal' as part, hash({{ withdrawal_columns | join(', ') }}) as row_hash
        from {{ withdrawals }}
    ) as hashed
    group by tenant_id, subject_key
{%- endmacro %}

{#- SQL of the (tenant_id, subject_key) whose events (parts=['events']) or events and withdrawals changed
    since the digests were built; none when there are no digests (or outside an incremental DuckDB build). -#}
{% macro engagement_dirty_subjects(parts) -%}
    {%- set columns = [] -%}
    {%- for part in parts -%}
        {%- do columns.extend([part ~ '_digest', part ~ '_rows']) -%}
    {%- endfor -%}
    {{ return(subjects_whose_digests_changed(engagement_subject_digest,
                                             [ref('int_engagement_events'), ref('int_withdrawal_events')],
                                             'int_engagement_subject_digests', columns)) }}
{%- endmacro %}

{#- int_engagement_features' scope, or none to recompute everything: a dict with window_start (SQL timestamp
    literal) and dirty_subjects (SQL). -#}
{% macro engagement_refresh_scope() -%}
    {%- set dirty = engagement_dirty_subjects(['events', 'withdrawals']) -%}
    {%- if dirty is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set old_as_of_day = run_query('select max(snapshot_at) from ' ~ this ~ ' where is_scoring_snapshot').rows[0][0] -%}
    {%- if old_as_of_day is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set window_start = run_query(
        "select cast(least(cast('" ~ old_as_of_day ~ "' as timestamp), " ~ dbt.date_trunc('day', as_of())
        ~ ") - interval 31 day as varchar)").rows[0][0] -%}
    {{ return({'window_start': "cast('" ~ window_start ~ "' as timestamp)", 'dirty_subjects': dirty}) }}
{%- endmacro %}

{#- int_engagement_features: the rows of its CTE `daily` holding each subject's state at each lookup instant
    of the CTE `lookups` (the last active day strictly before it), for the subjects `where` selects. -#}
{% macro engagement_state_at(lookups, where='true') %}
    select
        {{ lookups }}.snapshot_at,
        {{ lookups }}.offset_days,
        daily.*
    from {{ lookups }}
    inner join daily
        on daily.activity_day < {{ lookups }}.lookup_at
        and {{ open_ended('daily.next_activity_day') }} >= {{ lookups }}.lookup_at
    where {{ where }}
{%- endmacro %}

{#- The snapshot dates of int_engagement_features: every Monday with activity in its week before the as-of
    day, and the as-of day itself. -#}
{% macro engagement_snapshot_dates(daily) -%}
    {%- set as_of_day = dbt.date_trunc('day', as_of()) -%}
    select distinct {{ dbt.date_trunc('week', 'activity_day') }} as snapshot_at
    from {{ daily }}
    where {{ dbt.date_trunc('week', 'activity_day') }} < {{ as_of_day }}
    union
    select {{ as_of_day }} as snapshot_at
{%- endmacro %}

{#- int_engagement_features' pre-hook: delete the rows this build recomputes (all of them without a scope). -#}
{% macro engagement_refresh_delete() -%}
    {%- if not execute or not is_incremental() -%}
        select 1
    {%- else -%}
        {%- set scope = engagement_refresh_scope() -%}
        {%- if scope is none -%}
            {{ log(this ~ ': no digests or no as-of snapshot of the last build: recomputing every snapshot', info=true) }}
            delete from {{ this }}
        {%- else -%}
            delete from {{ this }}
            where snapshot_at >= {{ scope.window_start }}
                or snapshot_at not in ({{ engagement_snapshot_dates(ref('int_engagement_daily')) }})
                or (tenant_id, subject_key) in (select tenant_id, subject_key from ({{ scope.dirty_subjects }}))
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- int_engagement_daily's pre-hook: delete the rows of subjects whose events changed (all without digests). -#}
{% macro engagement_daily_delete() -%}
    {%- if not execute or not is_incremental() -%}
        select 1
    {%- else -%}
        {{ delete_subjects_rows(engagement_dirty_subjects(['events']), 'int_engagement_subject_digests') }}
    {%- endif -%}
{%- endmacro %}
