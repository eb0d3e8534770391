-- Grids in their latest version with street and community codes. The bureau submits a full
-- snapshot when grids change: a grid is active when it is in the latest snapshot (the
-- latest business date with a grids file).
with grids as (

    select * from {{ ref('int_grid__grids_latest') }}

),

latest_snapshot as (

    select max(business_date) as snapshot_date from {{ ref('stg_grid__grids') }}

)

select
    grids.*,
    left(grids.grid_code, 9) as street_code,
    left(grids.grid_code, 12) as community_code,
    grids.business_date = latest_snapshot.snapshot_date as is_active
from grids
cross join latest_snapshot
