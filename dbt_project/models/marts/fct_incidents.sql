-- Governed emergency incidents (突发事件): one row per incident in its latest state.
with incidents as (

    select * from {{ ref('int_emergency__incidents_enriched') }}

)

select
    incident_id,
    incident_type,
    is_ev_charging,
    occurred_at,
    reported_at,
    report_delay_minutes,
    district_code,
    grid_code,
    severity,
    deaths,
    injuries,
    loss_10k_cny,

    -- lineage
    {{ mart_lineage_columns() }}

from incidents
