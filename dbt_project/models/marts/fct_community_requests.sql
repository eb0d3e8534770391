-- Governed smart-community service requests (智慧社区服务请求): one row per request in
-- its latest state. Resident phone is a keyed hash. District = first six digits of the
-- grid code when one of the six district codes, else null (spec §2).
with requests as (

    select * from {{ ref('int_community__service_requests_latest') }}

)

select
    request_id,
    community_name,
    grid_code,
    {{ district_of_grid('grid_code') }} as district_code,
    service_type,
    channel,
    submitted_at,
    completed_at,
    completed_at is not null as is_completed,
    {{ hours_between('submitted_at', 'completed_at') }} as handling_hours,
    resident_phone_hash,
    rating,
    rating is not null as is_rated,
    case when rating is not null then rating >= 4 end as is_rated_good,

    -- lineage
    {{ source_file_id('source_key') }} as source_file_id,
    file_sha256,
    row_number,
    business_date,
    uploaded_at,
    ingested_at,
    run_id,
    contract_version

from requests
