{#- The key as Spark substitutes it from the session conf. Spark redacts a substituted value that matches
    spark.redaction.regex (e.g. a key containing "secret" or "token" becomes "*********(redacted)"), so the
    hex conf `lethe.key_hex` wins when set (hex never matches); `lethe.key` is the fallback. -#}
{% macro lethe_spark_key() -%}
    case
        when '${lethe.key_hex}' rlike '^([0-9a-f]{2})+$' then decode(unhex('${lethe.key_hex}'), 'UTF-8')
        else '${lethe.key}'
    end
{%- endmacro %}
