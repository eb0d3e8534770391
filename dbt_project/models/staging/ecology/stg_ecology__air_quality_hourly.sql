-- 空气质量小时监测 from the raw zone, one row per file row (machine feed, append-only).
with source as (

    select * from {{ source('raw', 'ecology__air_quality_hourly') }}

),

renamed as (

    select
        station_code,
        station_name,
        observed_at,
        district_code,
        pm25,
        pm10,
        so2,
        no2,
        o3,
        co,
        aqi as aqi_submitted,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
