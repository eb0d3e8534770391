-- Emergency incidents in their latest state with the row-level measures the fact and the
-- KPI models share.
with incidents as (

    select * from {{ ref('int_emergency__incidents_latest') }}

)

select
    *,
    incident_type = '电动车充电事故' as is_ev_charging,
    {{ hours_between('occurred_at', 'reported_at') }} * 60 as report_delay_minutes
from incidents
