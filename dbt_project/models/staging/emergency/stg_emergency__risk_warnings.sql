-- 城市运行风险预警 from the raw zone, one row per warning version (file row).
with source as (

    select * from {{ source('raw', 'emergency__risk_warnings') }}

),

renamed as (

    select
        warning_id,
        risk_type,
        issued_at,
        district_code,
        grid_code,
        level as warning_level,
        window_hours,
        source as warning_source,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
