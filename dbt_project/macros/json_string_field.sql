{#- One top-level field of a JSON object kept as text (e.g. a contact record's Attributes, a string map), as a
    string; null when the text is not a JSON object or has no such field. DuckDB: json_extract_string (guarded by
    json_valid, which would otherwise fail the query on a malformed value); Spark: get_json_object (null on
    malformed JSON). `key` is a plain field name (letters, digits, underscores). -#}
{% macro json_string_field(column, key) -%}
    {{ return(adapter.dispatch('json_string_field')(column, key)) }}
{%- endmacro %}

{% macro default__json_string_field(column, key) -%}
    case when json_valid({{ column }}) then json_extract_string({{ column }}, '$.{{ key }}') end
{%- endmacro %}

{% macro spark__json_string_field(column, key) -%}
    get_json_object({{ column }}, '$.{{ key }}')
{%- endmacro %}
