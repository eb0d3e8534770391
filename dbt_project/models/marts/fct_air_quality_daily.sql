-- Daily air quality per station (HJ 633-2012 日报): 24-hour average concentrations, the
-- highest 8-hour moving average of O3 and the daily AQI, for the good-day ratio KPI.
--
-- A valid hour has all six pollutants measured. The daily AQI exists only for station-
-- days with at least 20 valid hours (otherwise aqi is null and has_daily_aqi is false).
-- 24-hour averages are over the day's measured hours. O3 8-hour moving averages (spec
-- §4.4, HJ 663-2012/2013): the window ending at hour h is the mean of the valid O3 values
-- observed at h-7 … h and exists when at least 6 of those 8 hours are valid; a missing
-- row and a row with an empty O3 value are the same. Windows end at 07:00 … 23:00 of the
-- day (so they never cross midnight); the daily value is the highest. Above 800 µg/m³ the
-- O3 8-hour IAQI is not defined: the IAQI of the day's
-- highest 1-hour O3 (1-hour breakpoints) is used instead.
{%- set keys = ['station_code', 'observation_date'] %}

with hourly as (

    select * from {{ ref('fct_air_quality_hourly') }}

),

window_ends as (

    select distinct hourly.station_code, hourly.observation_date, w.end_hour
    from hourly
    cross join range(7, 24) as w (end_hour)

),

o3_windows as (

    select
        window_ends.station_code,
        window_ends.observation_date,
        window_ends.end_hour,
        avg(hourly.o3) as o3_8h_avg,
        count(hourly.o3) as o3_8h_hours
    from window_ends
    left join hourly
        on window_ends.station_code = hourly.station_code
            and window_ends.observation_date = hourly.observation_date
            and hour(hourly.observed_at) between window_ends.end_hour - 7 and window_ends.end_hour
    group by all

),

o3_8h as (

    select station_code, observation_date, max(o3_8h_avg) as o3_8h_max
    from o3_windows
    where o3_8h_hours >= 6
    group by all

),

daily as (

    select
        station_code,
        observation_date,
        arg_max(station_name, observed_at) as station_name,
        arg_max(district_code, observed_at) as district_code,
        count(*) as hour_count,
        count(*) filter (where is_valid_hour) as valid_hour_count,
        avg(pm25) as pm25_24h,
        avg(pm10) as pm10_24h,
        avg(so2) as so2_24h,
        avg(no2) as no2_24h,
        avg(co) as co_24h,
        max(o3) as o3_1h_max,
        max(business_date) as business_date,
        max(ingested_at) as ingested_at
    from hourly
    group by station_code, observation_date

),

eligible as (

    select daily.*, o3_8h.o3_8h_max
    from daily
    left join o3_8h
        on daily.station_code = o3_8h.station_code
            and daily.observation_date = o3_8h.observation_date
    where daily.valid_hour_count >= 20

),

pollutant_values as (

    select
        station_code, observation_date, 'so2' as pollutant, '24h' as averaging_period,
        so2_24h as concentration
    from eligible
    union all
    select station_code, observation_date, 'no2', '24h', no2_24h from eligible
    union all
    select station_code, observation_date, 'pm10', '24h', pm10_24h from eligible
    union all
    select station_code, observation_date, 'co', '24h', co_24h from eligible
    union all
    select
        station_code, observation_date, 'o3',
        case when o3_8h_max > 800 then '1h' else '8h' end,
        case when o3_8h_max > 800 then o3_1h_max else o3_8h_max end
    from eligible
    union all
    select station_code, observation_date, 'pm25', '24h', pm25_24h from eligible

),

iaqi as (

    {{ aqi_iaqi('pollutant_values', keys) }}

),

aqi as (

    {{ aqi_pivot('iaqi', keys, aqi_pollutant_labels()) }}

)

select
    {{ dbt.concat(['daily.station_code', "'|'", 'cast(daily.observation_date as varchar)']) }}
        as station_day_id,
    daily.station_code,
    daily.station_name,
    daily.observation_date,
    daily.district_code,
    daily.hour_count,
    daily.valid_hour_count,
    daily.valid_hour_count >= 20 as has_daily_aqi,
    daily.pm25_24h,
    daily.pm10_24h,
    daily.so2_24h,
    daily.no2_24h,
    daily.co_24h,
    o3_8h.o3_8h_max,
    aqi.iaqi_pm25,
    aqi.iaqi_pm10,
    aqi.iaqi_so2,
    aqi.iaqi_no2,
    aqi.iaqi_o3,
    aqi.iaqi_co,
    aqi.aqi_computed as aqi,
    case when aqi.aqi_computed > 50 then aqi.max_iaqi_pollutants end as primary_pollutant,
    case when aqi.aqi_computed is not null then aqi.aqi_computed <= 100 end as is_good_day,

    -- lineage: the latest business date and ingestion among the day's hourly rows
    daily.business_date,
    daily.ingested_at

from daily
left join o3_8h
    on daily.station_code = o3_8h.station_code
        and daily.observation_date = o3_8h.observation_date
left join aqi
    on daily.station_code = aqi.station_code
        and daily.observation_date = aqi.observation_date
