-- A measure view at the marts level: it reads the machine-feed facts (incremental marts),
-- so it cannot be an intermediate; kpi_city_monthly is its only reader (not published).
-- City operations KPIs (spec §5), report-only, by district and month (days / intervals /
-- hours up to the report time):
-- air_quality_good_day_ratio (优良天数比例): share of days with a district daily AQI <= 100
--   among the days that have one. District daily AQI (HJ 633-2012 applied to the
--   district): the stations' daily concentrations (24-hour averages, O3 highest 8-hour
--   average) averaged over the district's stations that have a daily AQI (>= 20 valid
--   hours), then IAQI / AQI as for a station.
-- traffic_peak_congestion_index: mean 5-minute congestion index in 07:00–09:00 and
--   17:00–19:00 (both peaks: dimension district; each peak: dimension peak_period am|pm).
-- pipe_pressure_breach_sensor_hours: sensor-hours outside thresholds (kpi_value =
--   numerator = breaching sensor-hours, denominator = observed sensor-hours), per district
--   and per network type (dimension network_type).
{%- set keys = ['district_code', 'observation_date'] %}

with report as (

    select {{ report_at() }} as report_at

),

station_days as (

    select daily.*
    from {{ ref('fct_air_quality_daily') }} as daily
    cross join report
    where daily.has_daily_aqi
        and daily.observation_date <= cast(report.report_at as date)

),

district_days as (

    select
        district_code,
        observation_date,
        avg(so2_24h) as so2,
        avg(no2_24h) as no2,
        avg(pm10_24h) as pm10,
        avg(co_24h) as co,
        avg(o3_8h_max) as o3,
        avg(pm25_24h) as pm25
    from station_days
    group by district_code, observation_date

),

pollutant_values as (

    select
        district_code, observation_date, 'so2' as pollutant, '24h' as averaging_period,
        so2 as concentration
    from district_days
    union all
    select district_code, observation_date, 'no2', '24h', no2 from district_days
    union all
    select district_code, observation_date, 'pm10', '24h', pm10 from district_days
    union all
    select district_code, observation_date, 'co', '24h', co from district_days
    union all
    select district_code, observation_date, 'o3', '8h', o3 from district_days
    union all
    select district_code, observation_date, 'pm25', '24h', pm25 from district_days

),

iaqi as (

    {{ aqi_iaqi('pollutant_values', keys) }}

),

district_aqi as (

    {{ aqi_pivot('iaqi', keys, aqi_pollutant_labels()) }}

),

peak_intervals as (

    select
        cast(date_trunc('month', flow.interval_start) as date) as kpi_month,
        flow.district_code,
        case when hour(flow.interval_start) < 12 then 'am' else 'pm' end as peak_period,
        flow.congestion_index
    from {{ ref('fct_traffic_flow_5min') }} as flow
    cross join report
    where {{ is_peak_hour('flow.interval_start') }}
        and flow.interval_start <= report.report_at
        and flow.congestion_index is not null

),

sensor_hours as (

    select
        cast(date_trunc('month', pressure.hour_start) as date) as kpi_month,
        pressure.district_code,
        coalesce(pressure.network_type, '未知') as network_type,
        pressure.is_breach
    from {{ ref('fct_pipe_pressure_hourly') }} as pressure
    cross join report
    where pressure.hour_start <= report.report_at

)

select
    cast(date_trunc('month', observation_date) as date) as kpi_month,
    'air_quality_good_day_ratio' as kpi_code,
    district_code,
    'district' as dimension_type,
    district_code as dimension_code,
    cast(null as varchar) as dimension_name,
    cast(count_if(aqi_computed <= 100) as double) as numerator,
    cast(count(*) as double) as denominator,
    count_if(aqi_computed <= 100) / count(*) as kpi_value
from district_aqi
where aqi_computed is not null
group by all

union all

select
    kpi_month,
    'traffic_peak_congestion_index' as kpi_code,
    district_code,
    case when grouping(peak_period) = 0 then 'peak_period' else 'district' end,
    case when grouping(peak_period) = 0 then peak_period else district_code end,
    case when grouping(peak_period) = 0 then
            case peak_period when 'am' then '早高峰 07:00–09:00' else '晚高峰 17:00–19:00' end
    end,
    sum(congestion_index),
    cast(count(*) as double),
    avg(congestion_index)
from peak_intervals
group by kpi_month, district_code, rollup(peak_period)

union all

select
    kpi_month,
    'pipe_pressure_breach_sensor_hours' as kpi_code,
    district_code,
    case when grouping(network_type) = 0 then 'network_type' else 'district' end,
    case when grouping(network_type) = 0 then network_type else district_code end,
    case when grouping(network_type) = 0 then network_type end,
    cast(count_if(coalesce(is_breach, false)) as double),
    cast(count(*) as double),
    cast(count_if(coalesce(is_breach, false)) as double)
from sensor_hours
group by kpi_month, district_code, rollup(network_type)
