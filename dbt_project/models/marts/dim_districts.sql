-- Districts of Zaozhuang (spec §2): one row per county-level district, from the districts
-- seed, with grid counts, population and households of the active grids.
with districts as (

    select * from {{ ref('int_grid__district_totals') }}

)

select
    district_code,
    district_name,
    '370400' as city_code,
    '枣庄市' as city_name,
    grid_count,
    population,
    households
from districts
