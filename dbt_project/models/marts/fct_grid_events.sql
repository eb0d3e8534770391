-- Governed grid events (网格事件): one row per event in its latest state. The district is
-- the first six digits of the grid code when one of the six district codes, else null
-- (spec §2). Description scrubbed of IDs/phones.
with events as (

    select * from {{ ref('int_grid__events_latest') }}

)

select
    event_id,
    grid_code,
    {{ district_of_grid('grid_code') }} as district_code,
    reporter_id,
    reported_at,
    category,
    category = '电动车充电隐患' as is_ev_charging_hazard,
    description_scrubbed,
    {{ department_id('handling_dept') }} as department_id,
    trim(handling_dept) as department_name,
    resolved_at,
    resolved_at is not null as is_resolved,
    {{ hours_between('reported_at', 'resolved_at') }} as handling_hours,
    status,

    -- lineage
    {{ source_file_id('source_key') }} as source_file_id,
    file_sha256,
    row_number,
    business_date,
    uploaded_at,
    ingested_at,
    run_id,
    contract_version

from events
