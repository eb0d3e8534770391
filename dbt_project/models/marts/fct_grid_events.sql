-- Governed grid events (网格事件): one row per event in its latest state. The district is
-- the first six digits of the grid code when one of the six district codes, else null
-- (spec §2). Description scrubbed of IDs/phones.
with events as (

    select * from {{ ref('int_grid__events_enriched') }}

)

select
    event_id,
    grid_code,
    district_code,
    reporter_id,
    reported_at,
    category,
    is_ev_charging_hazard,
    description_scrubbed,
    department_id,
    department_name,
    resolved_at,
    is_resolved,
    handling_hours,
    status,

    -- lineage
    {{ mart_lineage_columns() }}

from events
