-- 突发事件信息 from the raw zone, one row per incident version (file row).
with source as (

    select * from {{ source('raw', 'emergency__incidents') }}

),

renamed as (

    select
        incident_id,
        incident_type,
        occurred_at,
        reported_at,
        district_code,
        grid_code,
        severity,
        deaths,
        injuries,
        loss_10k_cny,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
