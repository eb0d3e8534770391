-- 地下管网压力监测 (minute-level IoT) from the raw zone, one row per file row (append-only).
with source as (

    select * from {{ source('raw', 'utilities__pipe_pressure') }}

),

renamed as (

    select
        sensor_id,
        network_type,
        district_code,
        measured_at,
        pressure_mpa,
        threshold_low,
        threshold_high,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
