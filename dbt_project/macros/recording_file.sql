{% macro recording_file(path) -%}
    {#- The file name of a recording path or Recording.Location (what follows the last '/'). Joining on it
        first turns "location equals the path, or ends in '/' + the path" into an equality join; the
        full rule is then checked on the few rows that share a file name. Portable: DuckDB and Spark
        both have regexp_extract(string, pattern, group). -#}
    regexp_extract({{ path }}, '[^/]+$', 0)
{%- endmacro %}
