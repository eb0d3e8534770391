-- One row per county-level district (seed districts) with the grid count, population and
-- households of its active grids (null population / households without an active grid).
with districts as (

    select * from {{ ref('districts') }}

),

grids as (

    select
        district_code,
        count(*) as grid_count,
        cast(sum(population) as bigint) as population,
        cast(sum(households) as bigint) as households
    from {{ ref('int_grid__grids_enriched') }}
    where is_active
    group by district_code

)

select
    districts.district_code,
    districts.district_name,
    coalesce(grids.grid_count, 0) as grid_count,
    grids.population,
    grids.households
from districts
left join grids on districts.district_code = grids.district_code
