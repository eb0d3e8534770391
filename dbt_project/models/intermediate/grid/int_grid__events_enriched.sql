-- Grid events in their latest state with the row-level measures the fact and the KPI models
-- share. The district is the first six digits of the grid code when one of the six
-- district codes, else null (spec §2).
with events as (

    select * from {{ ref('int_grid__events_latest') }}

)

select
    *,
    {{ district_of_grid('grid_code') }} as district_code,
    category = '电动车充电隐患' as is_ev_charging_hazard,
    {{ department_id('handling_dept') }} as department_id,
    trim(handling_dept) as department_name,
    resolved_at is not null as is_resolved,
    {{ hours_between('reported_at', 'resolved_at') }} as handling_hours
from events
