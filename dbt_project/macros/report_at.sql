{#-
    The report time of the KPI models (Asia/Shanghai wall time): var('report_at') when given
    (tests and backfills pin it), otherwise now. Facts after it are not counted yet.

        with report as (select {{ report_at() }} as report_at), ...
-#}
{% macro report_at() -%}
{%- set pinned = var('report_at', none) -%}
{%- if pinned -%}
cast('{{ pinned }}' as timestamp)
{%- else -%}
cast(now() at time zone 'Asia/Shanghai' as timestamp)
{%- endif -%}
{%- endmacro %}
