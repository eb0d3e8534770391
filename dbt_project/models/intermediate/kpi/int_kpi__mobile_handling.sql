-- KPI mobile_handling_rate (掌上办比例, spec §5): share of cases handled via 掌上 among
-- the N (var kpi_mobile_top_items, default 100) highest-volume service items of the
-- trailing 12 months ending at the month (months M-11 … M, by applied_at; ties broken by
-- item_code). The month's cases of those items are counted, by district and by
-- department. Only cases applied for by the report time count.
-- Output: one measure row per (kpi_month, district[, department]).
{%- set top_n = var('kpi_mobile_top_items', 100) %}

with report as (

    select {{ report_at() }} as report_at

),

cases as (

    select
        cases.case_id,
        cases.item_code,
        cases.district_code,
        cases.is_mobile,
        coalesce(cases.department_id, 'unassigned') as department_code,
        coalesce(cases.department_name, '未指定') as department_name,
        cast(date_trunc('month', cases.applied_at) as date) as case_month
    from {{ ref('int_govservice__cases_enriched') }} as cases
    cross join report
    where cases.applied_at <= report.report_at
        and cases.item_code is not null

),

months as (

    select distinct case_month as kpi_month from cases

),

item_volume as (

    select months.kpi_month, cases.item_code, count(*) as case_count
    from months
    inner join cases
        on months.kpi_month >= cases.case_month
            and cases.case_month > months.kpi_month - interval 12 month
    group by all

),

top_items as (

    select kpi_month, item_code
    from item_volume
    qualify row_number() over (
            partition by kpi_month order by case_count desc, item_code asc
        ) <= {{ top_n }}

),

in_scope as (

    select cases.*
    from cases
    inner join top_items
        on cases.case_month = top_items.kpi_month
            and cases.item_code = top_items.item_code

)

select
    case_month as kpi_month,
    'mobile_handling_rate' as kpi_code,
    district_code,
    case when grouping(department_code) = 0 then 'department' else 'district' end
        as dimension_type,
    case when grouping(department_code) = 0 then department_code else district_code end
        as dimension_code,
    case when grouping(department_code) = 0 then any_value(department_name) end
        as dimension_name,
    cast(count_if(coalesce(is_mobile, false)) as double) as numerator,
    cast(count(*) as double) as denominator,
    count_if(coalesce(is_mobile, false)) / count(*) as kpi_value
from in_scope
group by case_month, district_code, rollup(department_code)
