{#- The post-hooks of int_subject_identities_resolved (DuckDB): `keep` records the subject key each CRM Individual was
    first given (lethe_meta.subject_keys), so a person's key stays when the contact it was derived from (their
    smallest Contact Id) is retired for retention or a contact with a smaller Id joins them; `forget` drops the keys
    of Individuals no contact names any more (erased, or retired whole). The model reads the kept keys back through
    stg_lethe__subject_keys. -#}
{% macro keep_subject_keys(step) -%}
    {%- set kept = source('lethe_meta', 'subject_keys') -%}
    {%- if step == 'keep' -%}
        insert into {{ kept }}
        select distinct i.tenant_id, i.identity_value, i.subject_key, now()::timestamp
        from {{ this }} i
        where i.identity_kind = 'individual'
            and not exists (select 1 from {{ kept }} k
                            where k.tenant_id = i.tenant_id and k.individual_id = i.identity_value)
    {%- else -%}
        delete from {{ kept }} k
        where not exists (select 1 from {{ this }} i
                          where i.identity_kind = 'individual' and i.tenant_id = k.tenant_id
                              and i.identity_value = k.individual_id)
    {%- endif -%}
{%- endmacro %}
