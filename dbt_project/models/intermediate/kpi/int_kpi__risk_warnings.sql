-- KPIs risk_warning_accuracy and risk_warning_recall (预警准确率, spec §5), by district.
-- accuracy: share of warnings (month of issued_at) followed, within window_hours of
--   issued_at, by an incident of the same type (risk_type = incident_type) in the same
--   district (issued_at <= occurred_at <= issued_at + window_hours). A warning whose
--   window is still open at the report time and has no incident yet is not counted.
-- recall: share of incidents (month of occurred_at) preceded by such a warning.

with report as (

    select {{ report_at() }} as report_at

),

warnings as (

    select
        warnings.warning_id,
        warnings.risk_type,
        warnings.district_code,
        warnings.issued_at,
        warnings.issued_at + to_hours(cast(warnings.window_hours as bigint)) as window_end_at
    from {{ ref('int_emergency__risk_warnings_enriched') }} as warnings
    cross join report
    where warnings.issued_at <= report.report_at
        and warnings.window_hours is not null

),

incidents as (

    select
        incidents.incident_id, incidents.incident_type, incidents.district_code,
        incidents.occurred_at
    from {{ ref('int_emergency__incidents_enriched') }} as incidents
    cross join report
    where incidents.occurred_at <= report.report_at

),

matches as (

    select warnings.warning_id, incidents.incident_id
    from warnings
    inner join incidents
        on warnings.district_code = incidents.district_code
            and warnings.risk_type = incidents.incident_type
            and warnings.issued_at <= incidents.occurred_at
            and warnings.window_end_at >= incidents.occurred_at

),

warning_outcomes as (

    select
        cast(date_trunc('month', warnings.issued_at) as date) as kpi_month,
        warnings.district_code,
        warnings.warning_id in (select matches.warning_id from matches) as is_hit,
        warnings.window_end_at <= report.report_at as is_window_closed
    from warnings
    cross join report

),

incident_outcomes as (

    select
        cast(date_trunc('month', occurred_at) as date) as kpi_month,
        district_code,
        incident_id in (select matches.incident_id from matches) as is_warned
    from incidents

)

select
    kpi_month,
    'risk_warning_accuracy' as kpi_code,
    district_code,
    'district' as dimension_type,
    district_code as dimension_code,
    cast(null as varchar) as dimension_name,
    cast(count_if(is_hit) as double) as numerator,
    cast(count(*) as double) as denominator,
    count_if(is_hit) / count(*) as kpi_value
from warning_outcomes
where is_hit or is_window_closed
group by kpi_month, district_code

union all

select
    kpi_month,
    'risk_warning_recall' as kpi_code,
    district_code,
    'district' as dimension_type,
    district_code as dimension_code,
    cast(null as varchar) as dimension_name,
    cast(count_if(is_warned) as double) as numerator,
    cast(count(*) as double) as denominator,
    count_if(is_warned) / count(*) as kpi_value
from incident_outcomes
group by kpi_month, district_code
