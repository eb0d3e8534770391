-- Districts of Zaozhuang (spec §2): one row per county-level district, from the districts
-- seed, with grid counts, population and households of the active grids.
with districts as (

    select * from {{ ref('districts') }}

),

grids as (

    select
        district_code,
        count(*) as grid_count,
        cast(sum(population) as bigint) as population,
        cast(sum(households) as bigint) as households
    from {{ ref('dim_grids') }}
    where is_active
    group by district_code

)

select
    districts.district_code,
    districts.district_name,
    '370400' as city_code,
    '枣庄市' as city_name,
    coalesce(grids.grid_count, 0) as grid_count,
    grids.population,
    grids.households
from districts
left join grids on districts.district_code = grids.district_code
