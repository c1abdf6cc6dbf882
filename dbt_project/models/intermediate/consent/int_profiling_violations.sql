-- Withdrawal-risk scores of subjects who object to profiling (HasOptedOutProfiling or an objection request),
-- made after the objection was recorded (a score made before it was lawful). The scores table is written after
-- dbt by the risk model (so this reads the previous build's scores); until it exists this model is empty.
{%- set scores = none -%}
{%- if execute -%}
    {%- set scores = adapter.get_relation(database=target.database, schema=var('risk_scores_schema', 'marts'),
        identifier=var('risk_scores_table', 'withdrawal_risk_scores')) -%}
{%- endif %}
with

flags as (
    select * from {{ ref('int_consent_subject_flags') }}
),

{% if scores is not none %}
scores as (
    select * from {{ scores }}
),

violations as (
    select
        scores.tenant_id,
        scores.subject_key,
        'profiling_after_objection' as violation_type,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as channel,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as purpose_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as purpose_name,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as campaign_id,
        {{ dbt.cast('scores.scored_at', api.Column.translate_type('timestamp')) }} as occurred_at,
        '{{ scores.identifier }}' as source_table,
        scores.subject_key as record_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as message_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as consent_id,
        'objects_to_profiling' as consent_reason,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as withdrawal_event_id,
        {{ dbt.cast('null', api.Column.translate_type('timestamp')) }} as withdrawn_at,
        {{ dbt.cast('null', api.Column.translate_type('integer')) }} as delay_days
    from scores
    inner join flags
        on flags.tenant_id = scores.tenant_id
        and flags.subject_key = scores.subject_key
    where flags.objects_to_profiling
        and {{ dbt.cast('scores.scored_at', api.Column.translate_type('timestamp')) }} > flags.profiling_objection_at
),
{% else %}
violations as (
    select
        tenant_id,
        subject_key,
        'profiling_after_objection' as violation_type,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as channel,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as purpose_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as purpose_name,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as campaign_id,
        {{ dbt.cast('null', api.Column.translate_type('timestamp')) }} as occurred_at,
        'withdrawal_risk_scores' as source_table,
        subject_key as record_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as message_id,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as consent_id,
        'objects_to_profiling' as consent_reason,
        {{ dbt.cast('null', api.Column.translate_type('string')) }} as withdrawal_event_id,
        {{ dbt.cast('null', api.Column.translate_type('timestamp')) }} as withdrawn_at,
        {{ dbt.cast('null', api.Column.translate_type('integer')) }} as delay_days
    from flags
    where 1 = 0
),
{% endif %}

final as (
    select * from violations
)

select * from final
