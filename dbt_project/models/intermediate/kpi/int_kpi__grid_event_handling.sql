-- Grid event handling time (spec §5): median and mean hours from reported_at to
-- resolved_at of the events resolved in the month (by the report time), by district and
-- by handling department.
-- grid_event_handling_hours_median: kpi_value = median, denominator = resolved events,
--   numerator null. grid_event_handling_hours_mean: numerator = total hours.

with report as (

    select {{ report_at() }} as report_at

),

resolved as (

    select
        cast(date_trunc('month', events.resolved_at) as date) as kpi_month,
        events.district_code,
        coalesce(events.department_id, 'unassigned') as department_code,
        coalesce(events.department_name, '未指定') as department_name,
        {{ hours_between('events.reported_at', 'events.resolved_at') }} as handling_hours
    from {{ ref('int_grid__events_enriched') }} as events
    cross join report
    where events.resolved_at is not null
        and events.reported_at is not null
        and events.district_code is not null  -- grid code outside the six districts
        and events.resolved_at <= report.report_at

),

measures as (

    select
        kpi_month,
        district_code,
        case when grouping(department_code) = 0 then 'department' else 'district' end
            as dimension_type,
        case when grouping(department_code) = 0 then department_code else district_code end
            as dimension_code,
        case when grouping(department_code) = 0 then any_value(department_name) end
            as dimension_name,
        median(handling_hours) as median_hours,
        sum(handling_hours) as total_hours,
        count(*) as event_count
    from resolved
    group by kpi_month, district_code, rollup(department_code)

)

select
    kpi_month,
    'grid_event_handling_hours_median' as kpi_code,
    district_code,
    dimension_type,
    dimension_code,
    dimension_name,
    cast(null as double) as numerator,
    cast(event_count as double) as denominator,
    cast(median_hours as double) as kpi_value
from measures

union all

select
    kpi_month,
    'grid_event_handling_hours_mean' as kpi_code,
    district_code,
    dimension_type,
    dimension_code,
    dimension_name,
    cast(total_hours as double) as numerator,
    cast(event_count as double) as denominator,
    total_hours / event_count as kpi_value
from measures
