-- Governed emergency incidents (突发事件): one row per incident in its latest state.
with incidents as (

    select * from {{ ref('int_emergency__incidents_latest') }}

)

select
    incident_id,
    incident_type,
    incident_type = '电动车充电事故' as is_ev_charging,
    occurred_at,
    reported_at,
    {{ hours_between('occurred_at', 'reported_at') }} * 60 as report_delay_minutes,
    district_code,
    grid_code,
    severity,
    deaths,
    injuries,
    loss_10k_cny,

    -- lineage
    {{ source_file_id('source_key') }} as source_file_id,
    file_sha256,
    row_number,
    business_date,
    uploaded_at,
    ingested_at,
    run_id,
    contract_version

from incidents
