-- Grids (网格): one row per grid code ever submitted, in its latest version. The bureau
-- submits a full snapshot when grids change: a grid is active when it is in the latest
-- snapshot (the latest business date with a grids file).
with grids as (

    select * from {{ ref('int_grid__grids_latest') }}

),

latest_snapshot as (

    select max(business_date) as snapshot_date from {{ ref('stg_grid__grids') }}

)

select
    grids.grid_code,
    grids.grid_name,
    left(grids.grid_code, 9) as street_code,
    grids.street_name,
    left(grids.grid_code, 12) as community_code,
    grids.community_name,
    grids.district_code,
    grids.population,
    grids.households,
    grids.gridworker_id,
    grids.business_date = latest_snapshot.snapshot_date as is_active,

    -- lineage
    {{ source_file_id('grids.source_key') }} as source_file_id,
    grids.file_sha256,
    grids.row_number,
    grids.business_date,
    grids.uploaded_at,
    grids.ingested_at,
    grids.run_id,
    grids.contract_version

from grids
cross join latest_snapshot
