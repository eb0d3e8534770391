{#- Stable department key: md5 of the trimmed department name (null for a blank name). -#}
{% macro department_id(name_column) -%}
md5(nullif(trim({{ name_column }}), ''))
{%- endmacro %}

{#- 100-point satisfaction score (spec §5): 非常满意 100 … 非常不满意 0, null when unrated. -#}
{% macro satisfaction_score(column) -%}
cast(case {{ column }}
    when '非常满意' then 100
    when '满意' then 80
    when '基本满意' then 60
    when '不满意' then 20
    when '非常不满意' then 0
end as integer)
{%- endmacro %}

{#- Hours between two timestamps (fractional), null when either is null. -#}
{% macro hours_between(start_column, end_column) -%}
(epoch({{ end_column }}) - epoch({{ start_column }})) / 3600.0
{%- endmacro %}
