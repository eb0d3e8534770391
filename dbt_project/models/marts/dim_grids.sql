-- Grids (网格): one row per grid code ever submitted, in its latest version. The bureau
-- submits a full snapshot when grids change: a grid is active when it is in the latest
-- snapshot (the latest business date with a grids file).
with grids as (

    select * from {{ ref('int_grid__grids_enriched') }}

)

select
    grid_code,
    grid_name,
    street_code,
    street_name,
    community_code,
    community_name,
    district_code,
    population,
    households,
    gridworker_id,
    is_active,

    -- lineage
    {{ mart_lineage_columns() }}

from grids
