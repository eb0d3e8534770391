-- 网格基础信息 (reference data, full snapshot when changed), one row per file row.
with source as (

    select * from {{ source('raw', 'grid__grids') }}

),

renamed as (

    select
        grid_code,
        grid_name,
        street_name,
        community_name,
        district_code,
        population,
        households,
        gridworker_id,

        -- lineage
        {{ lineage_columns() }}

    from source

)

select * from renamed
