{#- Morning (07:00–09:00) or evening (17:00–19:00) peak, spec §5 traffic KPI. -#}
{% macro is_peak_hour(ts_column) -%}
(hour({{ ts_column }}) in (7, 8, 17, 18))
{%- endmacro %}
