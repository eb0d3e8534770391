-- Governed hourly air quality (空气质量小时监测): one row per station and hour, with the
-- HJ 633-2012 hourly IAQI of each pollutant, the computed AQI and the primary pollutant.
-- aqi = the submitted AQI when present, else the computed one.
-- Incremental (delete+insert on station_code + observed_at): a run reads only the rows
-- ingested after the newest row already here, keeps the latest version of each key in
-- that batch, and never replaces a row with a version from an older business date.
-- A file re-submitted under the same object key first has its earlier rows deleted
-- (pre-hook), so the correction replaces exactly what the earlier version contributed;
-- the file registry also names corrections that landed no row (all quarantined).
-- A key whose winning version the correction removed shows its next-latest version
-- (another file of that business date) again.
-- depends_on: {{ ref('stg_meta__files') }}
{{ config(
    materialized='incremental',
    unique_key=['station_code', 'observed_at'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="{{ delete_resubmitted_source_rows(ref('stg_ecology__air_quality_hourly'), 'ecology', 'air_quality_hourly') }}",
    post_hook="{{ record_build_mark() }}"
) }}
{%- set keys = ['station_code', 'observed_at'] %}

with new_rows as (

    select * from {{ ref('stg_ecology__air_quality_hourly') }} as s  -- noqa: AL05
    {{ incremental_new_or_uncovered_rows_filter('s', keys, 'ecology', 'air_quality_hourly') }}

),

latest as (

    {{ latest_version('new_rows', keys) }}

),

batch as (

    select * from latest as b  -- noqa: AL05
    {{ incremental_not_superseded('b', keys) }}

),

-- Hourly breakpoints: SO2/NO2/CO/O3 1-hour (SO2 above 800 µg/m³: 24-hour), PM2.5/PM10
-- 24-hour breakpoints applied to the hourly value.
pollutant_values as (

    select
        station_code, observed_at, 'so2' as pollutant,
        case when so2 > 800 then '24h' else '1h' end as averaging_period, so2 as concentration
    from batch
    union all
    select station_code, observed_at, 'no2', '1h', no2 from batch
    union all
    select station_code, observed_at, 'pm10', '24h', pm10 from batch
    union all
    select station_code, observed_at, 'co', '1h', co from batch
    union all
    select station_code, observed_at, 'o3', '1h', o3 from batch
    union all
    select station_code, observed_at, 'pm25', '24h', pm25 from batch

),

iaqi as (

    {{ aqi_iaqi('pollutant_values', keys) }}

),

aqi as (

    {{ aqi_pivot('iaqi', keys, aqi_pollutant_labels()) }}

),

final as (

    select
        batch.station_code,
        batch.station_name,
        batch.observed_at,
        cast(batch.observed_at as date) as observation_date,
        batch.district_code,
        batch.pm25,
        batch.pm10,
        batch.so2,
        batch.no2,
        batch.o3,
        batch.co,
        aqi.iaqi_pm25,
        aqi.iaqi_pm10,
        aqi.iaqi_so2,
        aqi.iaqi_no2,
        aqi.iaqi_o3,
        aqi.iaqi_co,
        cast(batch.aqi_submitted as integer) as aqi_submitted,
        aqi.aqi_computed,
        cast(coalesce(batch.aqi_submitted, aqi.aqi_computed) as integer) as aqi,
        case
            when coalesce(batch.aqi_submitted, aqi.aqi_computed) > 50 then aqi.max_iaqi_pollutants
        end as primary_pollutant,
        (
            batch.pm25 is not null and batch.pm10 is not null and batch.so2 is not null
            and batch.no2 is not null and batch.o3 is not null and batch.co is not null)
            as is_valid_hour,

        -- lineage
        {{ mart_lineage_columns('batch') }}

    from batch
    left join aqi
        on batch.station_code = aqi.station_code
            and batch.observed_at = aqi.observed_at

)

select * from final
