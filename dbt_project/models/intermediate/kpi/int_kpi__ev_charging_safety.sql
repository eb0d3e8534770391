-- EV charging safety (spec §5), by district and month:
-- ev_charging_incidents_per_10k_households: 电动车充电事故 incidents (month of occurred_at)
--   per 10,000 households of the district's active grids (dim_districts.households, from
--   grid.grids). numerator = incidents, denominator = households / 10,000 (null without
--   households: kpi_value null).
-- ev_charging_hazards_found: 电动车充电隐患 grid events reported in the month (count;
--   numerator = count, denominator null).
{{ config(materialized='view') }}
{%- set report_at = var('report_at', none) %}

with report as (

    select
    {%- if report_at %}
        cast('{{ report_at }}' as timestamp) as report_at
    {%- else %}
        cast(now() at time zone 'Asia/Shanghai' as timestamp) as report_at
    {%- endif %}

),

incidents as (

    select
        cast(date_trunc('month', incidents.occurred_at) as date) as kpi_month,
        incidents.district_code,
        count(*) as incident_count
    from {{ ref('fct_incidents') }} as incidents
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
    from {{ ref('fct_grid_events') }} as events
    cross join report
    where events.category = '电动车充电隐患'
        and events.reported_at <= report.report_at
    group by all

),

households as (

    select district_code, households
    from {{ ref('dim_districts') }}

)

select
    incidents.kpi_month,
    'ev_charging_incidents_per_10k_households' as kpi_code,
    incidents.district_code,
    'district' as dimension_type,
    incidents.district_code as dimension_code,
    cast(null as varchar) as dimension_name,
    cast(incidents.incident_count as double) as numerator,
    nullif(households.households, 0) / 10000.0 as denominator,
    incidents.incident_count / (nullif(households.households, 0) / 10000.0) as kpi_value
from incidents
left join households on incidents.district_code = households.district_code

union all

select
    kpi_month,
    'ev_charging_hazards_found' as kpi_code,
    district_code,
    'district' as dimension_type,
    district_code as dimension_code,
    cast(null as varchar) as dimension_name,
    cast(hazard_count as double) as numerator,
    cast(null as double) as denominator,
    cast(hazard_count as double) as kpi_value
from hazards
