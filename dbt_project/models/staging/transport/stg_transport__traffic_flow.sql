-- 卡口交通流量 (5-minute intervals) from the raw zone, one row per file row (append-only).
with source as (

    select * from {{ source('raw', 'transport__traffic_flow') }}

),

renamed as (

    select
        checkpoint_id,
        road_name,
        district_code,
        interval_start,
        vehicle_count,
        avg_speed_kmh,
        congestion_index,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
