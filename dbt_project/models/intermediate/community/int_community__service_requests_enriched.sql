-- Community service requests in their latest state with the row-level measures the fact
-- and the KPI models share. District = first six digits of the grid code when one of the
-- six district codes, else null (spec §2).
with requests as (

    select * from {{ ref('int_community__service_requests_latest') }}

)

select
    *,
    {{ district_of_grid('grid_code') }} as district_code,
    completed_at is not null as is_completed,
    {{ hours_between('submitted_at', 'completed_at') }} as handling_hours,
    rating is not null as is_rated,
    case when rating is not null then rating >= 4 end as is_rated_good
from requests
