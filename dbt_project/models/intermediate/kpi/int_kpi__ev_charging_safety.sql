-- EV charging safety (spec §5), by district and month:
-- ev_charging_incidents_per_10k_households: 电动车充电事故 incidents (month of occurred_at)
--   per 10,000 households of the district's active grids (dim_districts.households, from
--   grid.grids). numerator = incidents, denominator = households / 10,000 (null without
--   households: kpi_value null).
-- ev_charging_hazards_found: 电动车充电隐患 grid events reported in the month (count;
--   numerator = count, denominator null).
-- A zero numerator is 0, not missing (spec §5): every district gets a row for every month
-- covered by the source dataset, i.e. a month in which the bureau submitted a file
-- (accepted or a no-op identical one) or which has a record, up to the report month. A
-- district without households has no denominator: kpi_value null for the rate.

with report as (

    select {{ report_at() }} as report_at

),

incidents as (

    select
        cast(date_trunc('month', incidents.occurred_at) as date) as kpi_month,
        incidents.district_code,
        count(*) as incident_count
    from {{ ref('int_emergency__incidents_enriched') }} as incidents
    cross join report
    where incidents.incident_type = '电动车充电事故'
        and incidents.occurred_at <= report.report_at
    group by all

),

hazards as (

    select
        cast(date_trunc('month', events.reported_at) as date) as kpi_month,
        events.district_code,
        count(*) as hazard_count
    from {{ ref('int_grid__events_enriched') }} as events
    cross join report
    where events.category = '电动车充电隐患'
        and events.reported_at <= report.report_at
    group by all

),

-- months covered by each source dataset: submitted business dates and record months
covered_months as (

    select distinct
        case files.dataset when 'incidents' then 'incidents' else 'hazards' end as measure,
        cast(date_trunc('month', files.business_date) as date) as kpi_month
    from {{ ref('stg_meta__files') }} as files
    cross join report
    where (
        (files.bureau = 'emergency' and files.dataset = 'incidents')
        or (files.bureau = 'grid' and files.dataset = 'events')
    )
    and files.status in ('accepted', 'duplicate')
    and files.business_date <= cast(report.report_at as date)

    union

    select 'incidents', cast(date_trunc('month', incidents.occurred_at) as date)
    from {{ ref('int_emergency__incidents_enriched') }} as incidents
    cross join report
    where incidents.occurred_at <= report.report_at

    union

    select 'hazards', cast(date_trunc('month', events.reported_at) as date)
    from {{ ref('int_grid__events_enriched') }} as events
    cross join report
    where events.reported_at <= report.report_at

),

districts as (

    select district_code, households
    from {{ ref('int_grid__district_totals') }}

),

incident_grid as (

    select covered_months.kpi_month, districts.district_code, districts.households
    from covered_months
    cross join districts
    where covered_months.measure = 'incidents'

),

hazard_grid as (

    select covered_months.kpi_month, districts.district_code
    from covered_months
    cross join districts
    where covered_months.measure = 'hazards'

)

select
    incident_grid.kpi_month,
    'ev_charging_incidents_per_10k_households' as kpi_code,
    incident_grid.district_code,
    'district' as dimension_type,
    incident_grid.district_code as dimension_code,
    cast(null as varchar) as dimension_name,
    cast(coalesce(incidents.incident_count, 0) as double) as numerator,
    nullif(incident_grid.households, 0) / 10000.0 as denominator,
    coalesce(incidents.incident_count, 0) / (nullif(incident_grid.households, 0) / 10000.0)
        as kpi_value
from incident_grid
left join incidents
    on incident_grid.kpi_month = incidents.kpi_month
        and incident_grid.district_code = incidents.district_code

union all

select
    hazard_grid.kpi_month,
    'ev_charging_hazards_found' as kpi_code,
    hazard_grid.district_code,
    'district' as dimension_type,
    hazard_grid.district_code as dimension_code,
    cast(null as varchar) as dimension_name,
    cast(coalesce(hazards.hazard_count, 0) as double) as numerator,
    cast(null as double) as denominator,
    cast(coalesce(hazards.hazard_count, 0) as double) as kpi_value
from hazard_grid
left join hazards
    on hazard_grid.kpi_month = hazards.kpi_month
        and hazard_grid.district_code = hazards.district_code
