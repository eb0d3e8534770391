-- Hotline KPIs by month and district, with targets from the kpi_targets seed (spec §5).
--
-- hotline_on_time_closure_rate: tickets whose deadline (received_at + deadline_hours)
--   falls in the month; closed by the deadline = on time; closed after it, or still open
--   after it as of the report time = late; still open with the deadline after the report
--   time = not counted yet. numerator = on time, denominator = on time + late.
-- citizen_satisfaction_score: mean 100-point score over rated hotline tickets and rated
--   government-service cases (好差评; 未评价 excluded) — spec §5 combines both: tickets in
--   the month of closed_at (received_at when not closed), cases in the month of
--   completed_at (applied_at when not completed). numerator = sum of scores,
--   denominator = rated tickets + rated cases.
--
-- Every district gets a row for every month that has data for the KPI (a district
-- without tickets: denominator 0, kpi_value null).

with report as (

    select {{ report_at() }} as report_at

),

tickets as (

    select * from {{ ref('int_hotline__tickets_enriched') }}

),

cases as (

    select * from {{ ref('int_govservice__cases_enriched') }}

),

districts as (

    select * from {{ ref('districts') }}

),

targets as (

    select * from {{ ref('kpi_targets') }}

),

on_time as (

    select
        cast(date_trunc('month', tickets.deadline_at) as date) as kpi_month,
        tickets.district_code,
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
        tickets.satisfaction_score
    from tickets
    cross join report
    where tickets.satisfaction_score is not null
        and coalesce(tickets.closed_at, tickets.received_at) <= report.report_at

    union all

    select
        cast(date_trunc('month', coalesce(cases.completed_at, cases.applied_at)) as date)
            as kpi_month,
        cases.district_code,
        cases.rating_score as satisfaction_score
    from cases
    cross join report
    where cases.rating_score is not null
        and coalesce(cases.completed_at, cases.applied_at) <= report.report_at

),

measures as (

    select
        kpi_month,
        district_code,
        'hotline_on_time_closure_rate' as kpi_code,
        cast(count_if(is_on_time) as double) as numerator,
        count(is_on_time) as denominator
    from on_time
    where is_on_time is not null
    group by all

    union all

    select
        kpi_month,
        district_code,
        'citizen_satisfaction_score' as kpi_code,
        cast(sum(satisfaction_score) as double) as numerator,
        count(*) as denominator
    from satisfaction
    group by all

),

grid as (

    select distinct measures.kpi_month, measures.kpi_code, districts.district_code
    from measures
    cross join districts

),

final as (

    select
        grid.kpi_month,
        grid.district_code,
        districts.district_name,
        grid.kpi_code,
        targets.kpi_name,
        targets.unit,
        measures.numerator / nullif(measures.denominator, 0) as kpi_value,
        coalesce(measures.numerator, 0) as numerator,
        coalesce(measures.denominator, 0) as denominator,
        targets.target_value,
        targets.comparator,
        targets.baseline_value,
        measures.numerator / nullif(measures.denominator, 0) - targets.target_value as gap,
        case targets.comparator
            when '>='
                then measures.numerator / nullif(measures.denominator, 0)
                    >= targets.target_value
            when '<=' then measures.numerator / nullif(measures.denominator, 0)
                <= targets.target_value
        end as is_target_met,
        report.report_at
    from grid
    cross join report
    inner join districts on grid.district_code = districts.district_code
    left join measures
        on grid.kpi_month = measures.kpi_month
            and grid.kpi_code = measures.kpi_code
            and grid.district_code = measures.district_code
    left join targets on grid.kpi_code = targets.kpi_code

)

select * from final
