-- Department breakdown of the hotline KPIs (spec §5: by department where it applies); the
-- district totals are in kpi_hotline_monthly, with the same definitions:
-- hotline_on_time_closure_rate by the ticket's handling department (承办单位; the first
--   receiver while none is assigned): tickets whose deadline falls in the month, closed by
--   the deadline = on time, closed after it or still open after it = late, still open
--   before it = not counted yet.
-- citizen_satisfaction_score by department: rated tickets by handling department (month
--   of closed_at, else received_at) and rated service cases by their department (month of
--   completed_at, else applied_at); numerator = sum of 100-point scores.
-- Only dimension_type 'department' rows (department_id, 'unassigned' without a name).

with report as (

    select {{ report_at() }} as report_at

),

tickets as (

    select
        tickets.*,
        coalesce(nullif(trim(tickets.handling_dept), ''), nullif(trim(tickets.first_receiver_dept), ''))
            as department_name
    from {{ ref('int_hotline__tickets_enriched') }} as tickets

),

on_time as (

    select
        cast(date_trunc('month', tickets.deadline_at) as date) as kpi_month,
        tickets.district_code,
        coalesce({{ department_id('tickets.department_name') }}, 'unassigned') as department_code,
        coalesce(tickets.department_name, '未指定') as department_name,
        case
            when tickets.closed_at is not null and tickets.closed_at <= report.report_at
                then tickets.closed_at <= tickets.deadline_at
            when tickets.deadline_at < report.report_at then false
        end as is_on_time
    from tickets
    cross join report
    where tickets.deadline_at is not null

),

satisfaction as (

    select
        cast(date_trunc('month', coalesce(tickets.closed_at, tickets.received_at)) as date)
            as kpi_month,
        tickets.district_code,
        coalesce({{ department_id('tickets.department_name') }}, 'unassigned') as department_code,
        coalesce(tickets.department_name, '未指定') as department_name,
        tickets.satisfaction_score
    from tickets
    cross join report
    where tickets.satisfaction_score is not null
        and coalesce(tickets.closed_at, tickets.received_at) <= report.report_at

    union all

    select
        cast(date_trunc('month', coalesce(cases.completed_at, cases.applied_at)) as date),
        cases.district_code,
        coalesce(cases.department_id, 'unassigned'),
        coalesce(cases.department_name, '未指定'),
        cases.rating_score
    from {{ ref('int_govservice__cases_enriched') }} as cases
    cross join report
    where cases.rating_score is not null
        and coalesce(cases.completed_at, cases.applied_at) <= report.report_at

)

select
    kpi_month,
    'hotline_on_time_closure_rate' as kpi_code,
    district_code,
    'department' as dimension_type,
    department_code as dimension_code,
    any_value(department_name) as dimension_name,
    cast(count_if(is_on_time) as double) as numerator,
    cast(count(*) as double) as denominator,
    count_if(is_on_time) / count(*) as kpi_value
from on_time
where is_on_time is not null
group by kpi_month, district_code, department_code

union all

select
    kpi_month,
    'citizen_satisfaction_score' as kpi_code,
    district_code,
    'department' as dimension_type,
    department_code as dimension_code,
    any_value(department_name) as dimension_name,
    cast(sum(satisfaction_score) as double) as numerator,
    cast(count(*) as double) as denominator,
    sum(satisfaction_score) / count(*) as kpi_value
from satisfaction
group by kpi_month, district_code, department_code
