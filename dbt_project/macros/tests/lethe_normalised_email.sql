{#- Generic data test: every value of the column is an email address as ingest normalises it (lower case, no
    surrounding whitespace; lethe.ingest.normalise, for data-contract properties of format email). Staging
    models that pass such a column through instead of normalising it again on every read rely on this. -#}
{% test lethe_normalised_email(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} <> lower(trim({{ column_name }}))
{% endtest %}
