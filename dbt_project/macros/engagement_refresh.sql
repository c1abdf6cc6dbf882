{#- Incremental bookkeeping of int_engagement_features (DuckDB only).

    A features row (subject, snapshot) is a function of the subject's int_engagement_daily rows, the subject's
    int_withdrawal_events, the set of snapshot dates, and, for its label, of as_of while the snapshot's 30-day
    window is open. So an incremental build recomputes
      - every snapshot of the "dirty" subjects: those whose daily and withdrawal rows hash differently from
        int_engagement_subject_digests, the hashes as they stood when the features were last built (built
        after them); a subject who appeared or vanished is dirty too. New data, late data, a changed identity
        resolution, a purge: all of them change the subject's rows, hence the hash;
      - every subject at the snapshot dates from 31 days before the earlier of the old and the new as-of day
        (open label windows and the as-of snapshot itself) and at snapshot dates the table does not hold yet.
    Rows at snapshot dates that no longer exist go. Without the digests, or without the old as-of snapshot
    (a run that failed half way), everything is recomputed. -#}

{% macro engagement_subject_digest(daily, withdrawals) -%}
    {%- set daily_columns = adapter.get_columns_in_relation(daily) | map(attribute='name')
        | reject('in', ['tenant_id', 'subject_key']) | list -%}
    {%- set withdrawal_columns = adapter.get_columns_in_relation(withdrawals) | map(attribute='name')
        | reject('in', ['tenant_id', 'subject_key']) | list -%}
    select tenant_id, subject_key, bit_xor(row_hash) as digest, count(*) as rows_hashed
    from (
        select tenant_id, subject_key, hash('daily', {{ daily_columns | join(', ') }}) as row_hash
        from {{ daily }}
        union all
        select tenant_id, subject_key, hash('withdrawal', {{ withdrawal_columns | join(', ') }}) as row_hash
        from {{ withdrawals }}
    ) as hashed
    group by tenant_id, subject_key
{%- endmacro %}

{#- The scope of this incremental build, or none to recompute everything: a dict with
    window_start (SQL timestamp literal) and dirty_subjects (SQL query of tenant_id, subject_key). -#}
{% macro engagement_refresh_scope(daily, withdrawals) -%}
    {%- if not execute or this is none or not is_incremental() or target.type != 'duckdb' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set digests = adapter.get_relation(database=this.database, schema=this.schema,
                                           identifier='int_engagement_subject_digests') -%}
    {%- if digests is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set old_as_of_day = run_query('select max(snapshot_at) from ' ~ this ~ ' where is_scoring_snapshot').rows[0][0] -%}
    {%- if old_as_of_day is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set window_start = run_query(
        "select cast(least(cast('" ~ old_as_of_day ~ "' as timestamp), " ~ dbt.date_trunc('day', as_of())
        ~ ") - interval 31 day as varchar)").rows[0][0] -%}
    {%- set dirty -%}
        select coalesce(now.tenant_id, was.tenant_id) as tenant_id,
               coalesce(now.subject_key, was.subject_key) as subject_key
        from ({{ engagement_subject_digest(daily, withdrawals) }}) as now
        full outer join {{ digests }} as was
            on was.tenant_id = now.tenant_id and was.subject_key = now.subject_key
        where now.digest is distinct from was.digest or now.rows_hashed is distinct from was.rows_hashed
    {%- endset -%}
    {{ return({'window_start': "cast('" ~ window_start ~ "' as timestamp)", 'dirty_subjects': dirty}) }}
{%- endmacro %}

{#- int_engagement_features' pre-hook (inside the build's transaction): delete the rows this build
    recomputes, or every row when it recomputes everything; nothing on a full build. -#}
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

{% macro engagement_refresh_delete() -%}
    {%- if not execute or not is_incremental() -%}
        select 1
    {%- else -%}
        {%- set scope = engagement_refresh_scope(ref('int_engagement_daily'), ref('int_withdrawal_events')) -%}
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
