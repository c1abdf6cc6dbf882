{#- The identity a contact record's customer endpoint names (the kind and value int_subject_identities_resolved keys
    identities by): an email address for an EMAIL_ADDRESS endpoint, else an E.164 phone. `relation` is the alias
    of a stg_connect__contact_records row ('' for unqualified columns). -#}
{% macro contact_record_address_kind(relation='') -%}
    {%- set p = relation ~ '.' if relation else '' -%}
    case when {{ p }}customer_address_type = 'EMAIL_ADDRESS' then 'email' else 'phone' end
{%- endmacro %}

{% macro contact_record_address_value(relation='') -%}
    {%- set p = relation ~ '.' if relation else '' -%}
    coalesce({{ p }}customer_email, {{ p }}customer_phone)
{%- endmacro %}
