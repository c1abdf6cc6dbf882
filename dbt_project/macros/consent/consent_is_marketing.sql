{#- A DataUsePurpose is marketing when its name or description holds one of the `consent_marketing_keywords`
    (or, with another var and defaults, of another list: `consent_profiling_keywords` says a purpose profiles). -#}
{% macro consent_is_marketing(name_expr, description_expr, keywords_var='consent_marketing_keywords',
    default_keywords=['marketing', 'newsletter', 'offer', 'promotion', 'advert', 'upsell', 'cross-sell', 'loyalty']) -%}
    {%- set keywords = var(keywords_var, default_keywords) -%}
    {%- set text = "lower(coalesce(" ~ name_expr ~ ", '') || ' ' || coalesce(" ~ description_expr ~ ", ''))" -%}
    (
    {%- for word in keywords %}
        {{ dbt.position(dbt.string_literal(word), text) }} > 0{% if not loop.last %} or{% endif %}
    {%- endfor %}
    )
{%- endmacro %}
